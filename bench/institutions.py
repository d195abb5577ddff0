"""What the care-flow benches share: admitting an institution by a governors' vote, serving its API in-process,
reading the API's answers, and printing the bench's one result.

(bench.api runs `healthsilk api serve` in a process of its own instead: it measures the API's CPU apart.)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.auth.store import SCOPES
from bench.network import BenchNetwork, free_port
from crypto import HpkePrivateKey, Identity
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.sandbox import deterministic_account

START_LIMIT_SECONDS = 60.0  # a bound for a loaded machine, not a measured duration


def admit(net: BenchNetwork, label: str, name: str, country: str, roles: list[str], endpoint: str = "") -> Identity:
    """A new member admitted by two governors' votes; `label` makes its account deterministic across runs."""
    identity = Identity(account=deterministic_account(f"healthsilk-bench/{label}"), hpke_key=HpkePrivateKey.generate())
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=identity.address, name=name, country=country, roles=roles, hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=endpoint)
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    return identity


@dataclass
class ServedApi:
    """An institution's API served by uvicorn in a thread on a loopback port, with a token holding every scope."""

    url: str
    token: str
    app: Any
    _server: Any
    _thread: threading.Thread

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve(net: BenchNetwork, identity: Identity, root: Path, port: int) -> ServedApi:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    s = net.settings
    app = create_app(ApiSettings(data_dir=root, gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url), identity)
    token = app.state.services.auth.create_token("bench", frozenset(SCOPES))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():  # fail, rather than wait forever on a dead server
            server.should_exit = True
            raise RuntimeError(f"the API on port {port} did not start")
        time.sleep(0.05)
    return ServedApi(loopback_url(port), token, app, server, thread)


def loopback_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def admit_and_serve(net: BenchNetwork, label: str, name: str, country: str, roles: list[str], root: Path) -> tuple[Identity, ServedApi]:
    """A member whose registry endpoint is its own API, served here: other institutions then fetch keys from it over HTTP."""
    port = free_port()
    identity = admit(net, label, name, country, roles, loopback_url(port))
    return identity, serve(net, identity, root, port)


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON, when the API answered `status`; anything else stops the bench with what the API said."""
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}")
    return response.json()


def emit(result: dict[str, Any], as_json: bool) -> None:
    """The bench's result: one JSON object (`--json`), or one aligned line per figure."""
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28} {value}")
