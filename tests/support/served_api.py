"""An institution's API served for real in this process: uvicorn in a thread on a loopback port.

The test worlds that need a live API (tests/api, the care flows, the wallet end-to-end tests) all start it the
same way: build the app from the network's settings and the member's identity, run uvicorn in a daemon thread,
and wait until it listens. `served_api` does that once; `ServedApi.stop` (or leaving the `with` block) ends it.
Pick the port first (`free_port()`) when the member must be admitted with its API URL as registry endpoint.
(`api_process.ApiProcess` is the other kind: `healthsilk api serve` in a process of its own, for crash drills.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from crypto import Identity
from network.sandbox import Sandbox, free_port

START_LIMIT_SECONDS = 20.0  # a bound for a loaded machine, not a measured duration


@dataclass
class ServedApi:
    url: str
    app: Any
    server: Any  # uvicorn.Server
    thread: threading.Thread

    @property
    def services(self) -> Any:
        """The app's services (tests create tokens through `services.auth`)."""
        return self.app.state.services

    def token(self, label: str, scopes: frozenset[str] | set[str]) -> str:
        return str(self.services.auth.create_token(label, frozenset(scopes)))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def served_api(net: Sandbox, identity: Identity, data_dir: Path, *, port: int | None = None, name: str = "api") -> ServedApi:
    """Start `identity`'s API on `net` with its data under `data_dir`; returns once uvicorn listens."""
    import uvicorn  # only the tests that serve an API pay for importing it

    from api.app import create_app
    from api.settings import ApiSettings

    s = net.settings
    app = create_app(ApiSettings(data_dir=data_dir, gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url), identity)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=f"api-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the {name} API did not start")
        time.sleep(0.05)
    return ServedApi(loopback_url(port), app, server, thread)
