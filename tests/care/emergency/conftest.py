"""The break-glass API tests' fixture: two real institution APIs on the session's geth network (emergency_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emergency_world import EmergencyWorld, _institution

from tests.conftest import RunningNetwork
from tests.support.members import admit_member
from tests.support.served_api import ServedApi


@pytest.fixture(scope="session")
def emergency_world(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmergencyWorld]:
    # Session-wide: members are admitted once per network, with the endpoint (port) of these very APIs.
    root = tmp_path_factory.mktemp("emergency")
    hospital = _institution(geth_network, root, "bg-hospital", "Break-glass Test Hospital", ["PROVIDER"])
    ambulance = _institution(geth_network, root, "bg-ambulance", "Break-glass Test Ambulance", ["PROVIDER", "EMERGENCY"])
    officer = admit_member(geth_network, "bg-officer", "Break-glass Test Privacy Office", "KZ", ["PRIVACY_OFFICER"])
    world = EmergencyWorld(geth_network, hospital, ambulance, officer, root)
    try:
        yield world
    finally:
        for client in world._clients:
            client.close()
        for institution in (hospital, ambulance):
            assert institution.thread is not None
            ServedApi(institution.url, institution.app, institution.server, institution.thread).stop()
