"""The institution API served for real (uvicorn on a loopback port) in front of the session's real network.

The API, its members and tokens are set up once for all of tests/api; tests never revert the chain in between
(the API's sender caches its nonce), so each test works with its own fresh patients instead. When the last
tests/api test has run, the server stops and the chain is reverted to its state before the API's members were
admitted, so later test directories see the pristine consortium.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from api_world import ApiWorld, admit

from api.auth.store import SCOPES
from tests.conftest import RunningNetwork, free_port


HERE = Path(__file__).resolve().parent
_finalizers: list[Callable[[], None]] = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last test of this directory: stop the API and revert the chain (session fixtures end too late)."""
    if nextitem is None or HERE not in Path(str(nextitem.path)).resolve().parents:
        while _finalizers:
            _finalizers.pop()()


@pytest.fixture(scope="session")
def api(local_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    operator = local_network.operator_w3
    snapshot = operator.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    hospital = admit(local_network, "api-hospital-a", "Cotonou API Test Hospital", "BJ", ["PROVIDER"])
    other = admit(local_network, "api-hospital-b", "Almaty API Test Clinic", "KZ", ["PROVIDER"])
    root = tmp_path_factory.mktemp("api")
    s = local_network.settings
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
    world = ApiWorld(net=local_network, url=f"http://127.0.0.1:{port}", app=app, hospital=hospital, other=other, tokens=tokens, data_dir=root / "api")

    def finish() -> None:
        world.close()
        server.should_exit = True
        thread.join(timeout=10)
        operator.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        world.finished = True

    _finalizers.append(finish)
    try:
        yield world
    finally:
        if _finalizers and _finalizers[-1] is finish:
            _finalizers.pop()()


@pytest.fixture
def http(api: ApiWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60) as client:
        yield client



