"""What the care-flow benches share: admitting an institution by a governors' vote, and serving its API in-process.

(bench.api runs `healthsilk api serve` in a process of its own instead: it measures the API's CPU apart.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.auth.store import SCOPES
from bench.network import BenchNetwork
from crypto import HpkePrivateKey, Identity
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.sandbox import deterministic_account


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
    while not server.started:
        time.sleep(0.05)
    return ServedApi(f"http://127.0.0.1:{port}", token, app, server, thread)
