"""The embedded IPFS node and its Python client, against a real node process."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from network.ipfs_client import (
    ADD_PARAMS,
    IpfsClient,
    IpfsError,
    IpfsNotFound,
    IpfsPayloadTooLarge,
    IpfsUnavailable,
    raw_cid,
)

SERVER = Path(__file__).resolve().parents[2] / "network" / "ipfs" / "server.mjs"
EMPTY_RAW_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
MiB = 1024 * 1024


class IpfsNode(Protocol):
    """What the conftest ipfs_node fixture yields."""

    repo: Path
    port: int

    @property
    def api_url(self) -> str: ...
    def stop(self) -> int: ...
    def restart(self) -> None: ...


def run_server(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node (Node.js 20+) must be on PATH"
    return subprocess.run([node, str(SERVER), *args], capture_output=True, text=True, timeout=30)


def kubo_deterministic_bytes(size: int, seed: str) -> bytes:
    """Kubo test/cli testutils.DeterministicRandomReader: ChaCha20 keystream, key sha256(seed), zero nonce."""
    key = hashlib.sha256(seed.encode()).digest()
    return Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor().update(bytes(size))


def add_with(node: IpfsNode, data: bytes, **params: str) -> str:
    """Raw add with explicit query params (for Kubo vectors outside the client's fixed profile)."""
    response = httpx.post(f"{node.api_url}/api/v0/add", params={"pin": "false", **params},
                          files={"file": ("f", data)}, timeout=120)
    assert response.status_code == 200, response.text
    return str(response.json()["Hash"])


def block_files(repo: Path) -> set[str]:
    return {p.name for p in (repo / "blocks").rglob("*.data")}


@pytest.fixture
def client(ipfs_node: IpfsNode):
    with IpfsClient(ipfs_node.api_url) as c:
        yield c


# ---- round trips and CID vectors ----------------------------------------------------------

def test_small_round_trip(client: IpfsClient) -> None:
    data = b'{"resourceType": "Observation"}'
    cid = client.add(data)
    assert cid == raw_cid(data)
    assert client.cat(cid) == data
    assert client.block_size(cid) == len(data)


def test_empty_payload_has_the_kubo_cid(client: IpfsClient) -> None:
    assert raw_cid(b"") == EMPTY_RAW_CID
    assert client.add(b"") == EMPTY_RAW_CID
    assert client.cat(EMPTY_RAW_CID) == b""


def test_multi_chunk_round_trip(client: IpfsClient) -> None:
    data = os.urandom(MiB + 1)  # five 256 KiB leaves under one dag-pb root
    cid = client.add(data)
    assert cid.startswith("bafybei")  # CIDv1 dag-pb root, not a raw leaf
    assert client.cat(cid) == data
    assert client.is_pinned(cid)


def test_kubo_small_file_vectors(ipfs_node: IpfsNode, client: IpfsClient) -> None:
    # test/cli/add_test.go: "hello world" under each parameter set
    hello = b"hello world"
    assert client.add(hello) == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert add_with(ipfs_node, hello, **{"cid-version": "1", "raw-leaves": "false"}) == \
        "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"
    assert add_with(ipfs_node, hello) == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"  # Kubo's default, CIDv0


@pytest.mark.parametrize(("size", "expected"), [
    # test/cli/add_test.go, legacy-cid-v0 profile: 256 KiB chunks, 174 links, balanced, seed "v0-seed"
    (44544 * 1024, "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"),  # exactly 174 leaves: one level
    (44800 * 1024, "QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf"),  # 175 leaves: rebalanced, two levels
])
def test_kubo_256k_chunk_174_link_layout_vectors(ipfs_node: IpfsNode, size: int, expected: str) -> None:
    data = kubo_deterministic_bytes(size, "v0-seed")
    assert add_with(ipfs_node, data, **{"cid-version": "0", "chunker": "size-262144"}) == expected


@pytest.mark.slow
@pytest.mark.parametrize("ipfs_node", [{"max_add_bytes": 176 * MiB}], indirect=True)
@pytest.mark.parametrize(("size", "expected"), [
    # test/cli/add_test.go, test-cid-v1 profile: CIDv1, raw leaves, 1 MiB chunks, 174 links, seed "v1-seed"
    (174 * MiB, "bafybeigwduxcf2aawppv3isnfeshnimkyplvw3hthxjhr2bdeje4tdaicu"),
    (175 * MiB, "bafybeidhd7lo2n2v7lta5yamob3xwhbxcczmmtmhquwhjesi35jntf7mpu"),
])
def test_kubo_cidv1_raw_leaf_layout_vectors(ipfs_node: IpfsNode, size: int, expected: str) -> None:
    data = kubo_deterministic_bytes(size, "v1-seed")
    assert add_with(ipfs_node, data, **{"cid-version": "1", "raw-leaves": "true", "chunker": "size-1048576"}) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Seeded bytes rather than st.binary: hypothesis caps generated data far below one chunk.
@given(data=st.binary(max_size=64) | st.tuples(st.integers(0, 262144), st.integers(0, 2**32))
       .map(lambda t: random.Random(t[1]).randbytes(t[0])))
def test_raw_cid_agrees_with_node(ipfs_node: IpfsNode, data: bytes) -> None:
    response = httpx.post(f"{ipfs_node.api_url}/api/v0/add", params={**ADD_PARAMS, "pin": "false"}, files={"file": ("f", data)})
    assert response.json()["Hash"] == raw_cid(data)


def test_raw_cid_refuses_multi_chunk_payloads() -> None:
    with pytest.raises(ValueError):
        raw_cid(bytes(262145))


def test_cat_offset_and_length(ipfs_node: IpfsNode, client: IpfsClient) -> None:
    data = bytes(range(256)) * 2048  # 512 KiB: spans two leaves
    cid = client.add(data)
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/cat", params={"arg": cid, "offset": 262100, "length": 100})
    assert r.content == data[262100:262200]


def test_only_hash_computes_the_cid_without_storing(ipfs_node: IpfsNode) -> None:
    data = os.urandom(MiB)
    expected = add_with(ipfs_node, data, **{**ADD_PARAMS, "only-hash": "true"})
    assert not block_files(ipfs_node.repo)
    with IpfsClient(ipfs_node.api_url) as c:
        assert c.add(data) == expected


def test_repetitive_payload_round_trip(client: IpfsClient) -> None:
    data = bytes(4 * 262144 + 7)  # identical leaves: the same block is written once
    cid = client.add(data)
    assert client.cat(cid) == data


def test_cat_detects_a_tampered_block(ipfs_node: IpfsNode, client: IpfsClient) -> None:
    cid = client.add(b"original ciphertext")
    (block,) = (ipfs_node.repo / "blocks").rglob("*.data")
    block.write_bytes(b"swapped ciphertext!")
    with pytest.raises(IpfsError, match="do not match"):
        client.cat(cid)


# ---- pins and garbage collection ----------------------------------------------------------

def test_pin_unpin_and_list(client: IpfsClient) -> None:
    data = b"pin me"
    cid = client.add(data, pin=False)
    assert not client.is_pinned(cid) and cid not in client.pins()
    client.pin_add(cid)
    assert client.is_pinned(cid) and cid in client.pins()
    client.pin_rm(cid)
    assert not client.is_pinned(cid) and cid not in client.pins()
    with pytest.raises(IpfsNotFound):
        client.pin_rm(cid)


def test_gc_removes_unpinned_and_keeps_pinned(ipfs_node: IpfsNode, client: IpfsClient) -> None:
    kept_small, kept_big = b"keep", os.urandom(MiB)
    gone_small, gone_big = b"drop", os.urandom(MiB)
    keep = [client.add(kept_small), client.add(kept_big)]
    drop = [client.add(gone_small, pin=False), client.add(gone_big, pin=False)]
    unpinned_later = client.add(b"unpinned later")
    client.pin_rm(unpinned_later)

    removed = set(client.gc())
    assert raw_cid(gone_small) in removed and raw_cid(b"unpinned later") in removed
    assert len(removed) == 1 + 1 + 5  # two small blocks, and the big one's root + 4 leaves
    for cid in drop + [unpinned_later]:
        with pytest.raises(IpfsNotFound):
            client.cat(cid)
    assert client.cat(keep[0]) == kept_small and client.cat(keep[1]) == kept_big
    assert client.gc() == []  # nothing left to collect


def test_gc_during_concurrent_adds_never_loses_pinned_data(ipfs_node: IpfsNode) -> None:
    payloads = [os.urandom(300_000 + i) for i in range(8)]

    def add(data: bytes) -> str:
        with IpfsClient(ipfs_node.api_url) as c:
            return c.add(data)

    def gc(_: int) -> list[str]:
        with IpfsClient(ipfs_node.api_url) as c:
            return c.gc()

    with ThreadPoolExecutor(max_workers=6) as pool:
        adds = [pool.submit(add, p) for p in payloads]
        gcs = [pool.submit(gc, i) for i in range(4)]
        cids = [f.result() for f in adds]
        collected = [cid for f in gcs for cid in f.result()]
    assert collected == []  # every block written by an add was pinned before GC could see it
    with IpfsClient(ipfs_node.api_url) as c:
        assert [c.cat(cid) for cid in cids] == payloads


def test_pin_add_of_missing_cid_fails(client: IpfsClient) -> None:
    with pytest.raises(IpfsNotFound):
        client.pin_add(raw_cid(b"never added"))
    assert client.pins() == set()


# ---- persistence and lifecycle ------------------------------------------------------------

def test_data_and_pins_survive_restart(ipfs_node: IpfsNode) -> None:
    small, big = b"persist me", os.urandom(MiB + 1)
    with IpfsClient(ipfs_node.api_url) as c:
        cids = [c.add(small), c.add(big)]
        node_id = c.node_id()["ID"]
    ipfs_node.restart()  # SIGTERM (graceful, exit 0), then a new process on the same repo
    with IpfsClient(ipfs_node.api_url) as c:
        assert c.cat(cids[0]) == small and c.cat(cids[1]) == big
        assert c.pins() == set(cids)
        assert c.node_id()["ID"] == node_id
        assert c.gc() == []


def test_second_node_on_same_repo_is_refused(ipfs_node: IpfsNode) -> None:
    other_port = 15000 if ipfs_node.port != 15000 else 15001
    result = run_server("--repo", str(ipfs_node.repo), "--port", str(other_port))
    assert result.returncode == 2
    assert "repo is in use by another node" in result.stderr


def test_refuses_non_loopback_host(tmp_path: Path) -> None:
    result = run_server("--repo", str(tmp_path / "r"), "--host", "0.0.0.0", "--port", "15000")
    assert result.returncode == 2
    assert "refusing to bind non-loopback host 0.0.0.0" in result.stderr
    assert "ready" not in result.stdout


def test_identity_and_version(client: IpfsClient) -> None:
    ident = client.node_id()
    assert ident["ID"].startswith("12D3KooW") and ident["Addresses"] == []
    assert client.version()


# ---- bad input ----------------------------------------------------------------------------

def test_unknown_cid_fails_fast(client: IpfsClient) -> None:
    cid = raw_cid(b"nobody stored this")
    began = time.monotonic()
    with pytest.raises(IpfsNotFound):
        client.cat(cid)
    with pytest.raises(IpfsNotFound):
        client.block_size(cid)
    assert not client.is_pinned(cid)
    assert time.monotonic() - began < 5  # answered locally, never a network search


@pytest.mark.parametrize("bad", ["notacid", "bafy!!", "Qm123", "/ipfs/bafkreihdwdcefgh4dq/x/y"])
def test_malformed_cid_is_a_clear_error(ipfs_node: IpfsNode, client: IpfsClient, bad: str) -> None:
    with pytest.raises(IpfsError) as excinfo:
        client.cat(bad)
    assert not isinstance(excinfo.value, IpfsNotFound)
    assert "invalid path" in str(excinfo.value)
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/block/stat", params={"arg": bad})
    assert r.status_code == 500 and r.json()["Type"] == "error"


def test_missing_argument_is_a_client_error(ipfs_node: IpfsNode) -> None:
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/cat")
    assert r.status_code == 400
    assert r.json() == {"Message": 'argument "ipfs-path" is required', "Code": 1, "Type": "error"}


@pytest.mark.parametrize("ipfs_node", [{"max_add_bytes": MiB}], indirect=True)
@pytest.mark.parametrize("size", [MiB + 1, 8 * MiB])
def test_oversized_add_is_refused_and_stores_nothing(ipfs_node: IpfsNode, client: IpfsClient, size: int) -> None:
    client.add(b"already here")
    before = block_files(ipfs_node.repo)
    with pytest.raises(IpfsPayloadTooLarge, match="max-add-bytes"):
        client.add(os.urandom(size))
    assert block_files(ipfs_node.repo) == before
    assert client.pins() == {raw_cid(b"already here")}
    assert client.add(os.urandom(MiB)).startswith("bafybei")  # the limit itself still fits


@pytest.mark.parametrize("params", [
    {"hash": "sha2-512"}, {"chunker": "rabin"}, {"chunker": "size-2000000"}, {"cid-version": "2"},
    {"trickle": "true"}, {"pin": "maybe"},
])
def test_unsupported_add_options_are_refused(ipfs_node: IpfsNode, params: dict[str, str]) -> None:
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/add", params=params, files={"file": ("f", b"x")})
    assert r.status_code == 400 and r.json()["Code"] == 1
    assert not block_files(ipfs_node.repo)


def test_only_post_and_no_browser_origins(ipfs_node: IpfsNode) -> None:
    assert httpx.get(f"{ipfs_node.api_url}/api/v0/version").status_code == 405
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/version", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_unreachable_node_raises_unavailable(ipfs_node: IpfsNode) -> None:
    port = ipfs_node.port
    ipfs_node.stop()
    with IpfsClient(f"http://127.0.0.1:{port}", timeout=5) as c, pytest.raises(IpfsUnavailable):
        c.version()
