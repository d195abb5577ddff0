"""Local UnixFS CIDs equal the node's (only-hash add, nothing stored)."""

from __future__ import annotations

import os

import pytest

from network.ipfs_client import CHUNK_SIZE
from records.cid import cid_to_bytes, cid_to_text, local_cid, node_cid
from tests.conftest import RunningNetwork


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 4 * CHUNK_SIZE, 7 * CHUNK_SIZE + 12345])
def test_local_cid_matches_the_node(local_network: RunningNetwork, size: int) -> None:
    data = os.urandom(size)
    cid = node_cid(local_network.settings.ipfs_url, data)
    assert local_cid(data) == cid
    assert cid_to_text(cid_to_bytes(cid)) == cid


def test_deep_layouts_are_left_to_the_node() -> None:
    assert local_cid(bytes(175 * CHUNK_SIZE)) is None


# The fast path of cid_to_bytes / cid_to_text must agree with multiformats for the forms it takes, and leave every
# other form to it. Digests are of real bytes, so the CIDs are the ones a node would give those blocks.
def _library_bytes(cid: str) -> bytes:
    from multiformats import CID

    return bytes(CID.decode(cid))


def _library_text(cid: bytes) -> str:
    from multiformats import CID

    return str(CID.decode(cid).set(base="base32"))


@pytest.mark.parametrize("codec", ["raw", "dag-pb"])
def test_the_fast_path_agrees_with_multiformats(codec: str) -> None:
    from multiformats import CID, multihash

    for size in (0, 1, 100, 4096):
        digest = multihash.digest(os.urandom(size), "sha2-256")
        cid = CID("base32", 1, codec, digest)
        text, binary = str(cid), bytes(cid)
        assert len(binary) == 36 and text.startswith("b")  # the shape the fast path takes
        assert cid_to_bytes(text) == _library_bytes(text) == binary
        assert cid_to_text(binary) == _library_text(binary) == text


def test_other_cids_fall_back_to_multiformats() -> None:
    from multiformats import CID, multihash

    digest = multihash.digest(b"healthsilk", "sha2-256")
    v0 = CID("base58btc", 0, "dag-pb", digest)
    assert cid_to_bytes(str(v0)) == _library_bytes(str(v0)) == bytes(v0)  # "Qm...": not the fast path's form
    assert cid_to_text(bytes(v0)) == _library_text(bytes(v0)) == str(v0)  # a binary CIDv0 stays "Qm..." (the library's rule)
    other_base = CID("base58btc", 1, "raw", digest)
    assert cid_to_bytes(str(other_base)) == bytes(other_base)
    upper = str(CID("base32upper", 1, "raw", digest))  # "B...": the fast path takes lower-case base32 only
    assert cid_to_bytes(upper) == _library_bytes(upper) == bytes(CID("base32", 1, "raw", digest))
    with pytest.raises(ValueError):
        _library_bytes("b" + "a" * 58)  # not a CID at all ...
    with pytest.raises(ValueError):
        cid_to_bytes("b" + "a" * 58)  # ... refused as the library refuses it, not decoded by the fast path
