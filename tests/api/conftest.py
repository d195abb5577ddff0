"""The institution API served for real (uvicorn on a loopback port) in front of the session's geth network.

The API, its members and tokens are set up once for all of tests/api. Nothing is reverted on geth (the API's
sender keeps its nonces), so each test works with its own fresh patients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from api_world import ApiWorld, admit

from api.auth.store import SCOPES
from tests.conftest import RunningNetwork, free_port


@pytest.fixture(scope="session")
def api(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    hospital = admit(geth_network, "api-hospital-a", "Cotonou API Test Hospital", "BJ", ["PROVIDER"])
    other = admit(geth_network, "api-hospital-b", "Almaty API Test Clinic", "KZ", ["PROVIDER"])
    root = tmp_path_factory.mktemp("api")
    s = geth_network.settings
    settings = ApiSettings(data_dir=root / "api", gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url)
    app = create_app(settings, hospital.identity)
    services = app.state.services
    tokens = {scope: services.auth.create_token(f"test-{scope}", frozenset({scope})) for scope in SCOPES}
    tokens["all"] = services.auth.create_token("test-all", frozenset(SCOPES))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="api-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    world = ApiWorld(net=geth_network, url=f"http://127.0.0.1:{port}", app=app, hospital=hospital, other=other, tokens=tokens, data_dir=root / "api")
    try:
        yield world
    finally:
        world.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def http(api: ApiWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60) as client:
        yield client



