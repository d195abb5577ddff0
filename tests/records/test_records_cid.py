"""Local UnixFS CIDs equal the node's (only-hash add, nothing stored)."""

from __future__ import annotations

import os

import pytest

from records.cid import cid_to_bytes, cid_to_text, local_cid, node_cid
from network.ipfs_client import CHUNK_SIZE
from tests.conftest import RunningNetwork


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 4 * CHUNK_SIZE, 7 * CHUNK_SIZE + 12345])
def test_local_cid_matches_the_node(local_network: RunningNetwork, size: int) -> None:
    data = os.urandom(size)
    cid = node_cid(local_network.settings.ipfs_url, data)
    assert local_cid(data) == cid
    assert cid_to_text(cid_to_bytes(cid)) == cid


def test_deep_layouts_are_left_to_the_node() -> None:
    assert local_cid(bytes(175 * CHUNK_SIZE)) is None
