"""The institution API served for real (uvicorn on a loopback port) in front of the session's geth network.

The API, its members and tokens are set up once for all of tests/api. Nothing is reverted on geth (the API's
sender keeps its nonces), so each test works with its own fresh patients.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api_world import ApiWorld, admit

from api.auth.store import SCOPES
from tests.conftest import RunningNetwork
from tests.support.served_api import served_api


@pytest.fixture(scope="session")
def api(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    hospital = admit(geth_network, "api-hospital-a", "Cotonou API Test Hospital", "BJ", ["PROVIDER"])
    other = admit(geth_network, "api-hospital-b", "Almaty API Test Clinic", "KZ", ["PROVIDER"])
    data_dir = tmp_path_factory.mktemp("api") / "api"
    with served_api(geth_network, hospital.identity, data_dir, name="api-tests") as served:
        tokens = {scope: served.token(f"test-{scope}", {scope}) for scope in SCOPES}
        tokens["all"] = served.token("test-all", frozenset(SCOPES))
        world = ApiWorld(net=geth_network, url=served.url, app=served.app, hospital=hospital, other=other, tokens=tokens, data_dir=data_dir)
        try:
            yield world
        finally:
            world.close()


@pytest.fixture
def http(api: ApiWorld) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60) as client:
        yield client



