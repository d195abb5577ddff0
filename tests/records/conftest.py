"""Fixtures for the record tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from records_world import World, build_world

from tests.conftest import RunningNetwork


@pytest.fixture
def chain(geth_network: RunningNetwork) -> RunningNetwork:
    """The record service runs on geth, as in production: nothing is reverted, each test has its own patient."""
    return geth_network


@pytest.fixture
def world(chain: RunningNetwork, tmp_path: Path) -> World:
    return build_world(chain, tmp_path)
