"""The IPFS client against a real Kubo: CIDs (Kubo's published vectors, the former node's objects), pins and GC,
restarts and crashes, bad input."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    IpfsUnavailable,
    raw_cid,
)
from tests.network.kubo_process import (
    KuboProcess,
    block_files,
    block_keys,
    running_kubo,
)

EMPTY_RAW_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
MiB = 1024 * 1024


@pytest.fixture
def ipfs_node(tmp_path: Path) -> Iterator[KuboProcess]:
    """A fresh Kubo in a temp repo (overrides tests/network/conftest.py's fixture of the former Node.js node)."""
    yield from running_kubo(tmp_path)


@pytest.fixture
def client(ipfs_node: KuboProcess) -> Iterator[IpfsClient]:
    with ipfs_node.client() as c:
        yield c


def kubo_deterministic_bytes(size: int, seed: str) -> bytes:
    """Kubo test/cli testutils.DeterministicRandomReader: ChaCha20 keystream, key sha256(seed), zero nonce."""
    key = hashlib.sha256(seed.encode()).digest()
    return Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor().update(bytes(size))


def add_with(node: KuboProcess, data: bytes, **params: str) -> str:
    """Raw add with explicit query params (for Kubo vectors outside the client's fixed profile)."""
    response = httpx.post(f"{node.api_url}/api/v0/add", params={"pin": "false", **params}, headers=node.auth,
                          files={"file": ("f", data)}, timeout=120)
    assert response.status_code == 200, response.text
    return str(response.json()["Hash"])


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


def test_kubo_small_file_vectors(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    # test/cli/add_test.go: "hello world" under each parameter set
    hello = b"hello world"
    assert client.add(hello) == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert add_with(ipfs_node, hello, **{"cid-version": "1", "raw-leaves": "false"}) == \
        "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"
    assert add_with(ipfs_node, hello, **{"cid-version": "0", "raw-leaves": "false"}) == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    # The node's own defaults are the project's profile, so an add without parameters agrees too.
    assert add_with(ipfs_node, hello) == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


@pytest.mark.parametrize(("size", "expected"), [
    # test/cli/add_test.go, legacy-cid-v0 profile: 256 KiB chunks, 174 links, balanced, seed "v0-seed"
    (44544 * 1024, "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"),  # exactly 174 leaves: one level
    (44800 * 1024, "QmepeWtdmS1hHXx1oZXsPUv6bMrfRRKfZcoPPU4eEfjnbf"),  # 175 leaves: rebalanced, two levels
])
def test_kubo_256k_chunk_174_link_layout_vectors(ipfs_node: KuboProcess, size: int, expected: str) -> None:
    data = kubo_deterministic_bytes(size, "v0-seed")
    assert add_with(ipfs_node, data, **{"cid-version": "0", "raw-leaves": "false", "chunker": "size-262144"}) == expected


@pytest.mark.slow
@pytest.mark.parametrize(("size", "expected"), [
    # test/cli/add_test.go, test-cid-v1 profile: CIDv1, raw leaves, 1 MiB chunks, 174 links, seed "v1-seed"
    (174 * MiB, "bafybeigwduxcf2aawppv3isnfeshnimkyplvw3hthxjhr2bdeje4tdaicu"),
    (175 * MiB, "bafybeidhd7lo2n2v7lta5yamob3xwhbxcczmmtmhquwhjesi35jntf7mpu"),
])
def test_kubo_cidv1_raw_leaf_layout_vectors(ipfs_node: KuboProcess, size: int, expected: str) -> None:
    data = kubo_deterministic_bytes(size, "v1-seed")
    assert add_with(ipfs_node, data, **{"cid-version": "1", "raw-leaves": "true", "chunker": "size-1048576"}) == expected


# Objects written by the former embedded Node.js node (network/ipfs/server.mjs over ipfs-unixfs-importer,
# removed when Kubo replaced it): the CIDs it returned for the client's ADD_PARAMS, recorded before its
# removal. Payload: kubo_deterministic_bytes(size, "healthsilk-old-node/<name>") unless given literally.
OLD_NODE_FHIR = b'{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]}}'
CHUNK = 262144
OLD_NODE_OBJECTS = [
    ("fhir", OLD_NODE_FHIR, "bafkreieqip6myxsdfbz5rvnmhydibi635wrvujegee7kapebhtm2frt4cm"),
    ("one_chunk", CHUNK, "bafkreiak66uvnfrn6omi7d426mp5c4y4oejbjfgjncklbxeg7gmjlgixfu"),
    ("one_chunk_plus_1", CHUNK + 1, "bafybeicfxmrxzc7mgyfp2bzwldqx3l5bdhj4ttgrdemzcguhntt5eq2hau"),
    ("three_and_a_bit", 3 * CHUNK + 12345, "bafybeihht2xasr5krxmffjmwu44hmv6iyyttfqeyxxkai5pip46o2zfihy"),
    ("zeros_4_chunks_plus_7", bytes(4 * CHUNK + 7), "bafybeib7lfza5vo4vvbfwkv5rpay7o43fyfndboy6vlmtjbkvg76fbylxq"),
    ("174_chunks", 174 * CHUNK, "bafybeihqbtzf6yxgtvedd7datwo4u4scausppc4hxwg6tqjaiffuho5iha"),  # one full root
    ("175_chunks", 175 * CHUNK, "bafybeicirlbtyr2gzpjt734l3wrmhta57g3yb57zs72g6kd7p7sm2dtfla"),  # two levels
]


def test_objects_written_by_the_old_node_keep_their_cids(client: IpfsClient) -> None:
    for name, spec, expected in OLD_NODE_OBJECTS:
        data = spec if isinstance(spec, bytes) else kubo_deterministic_bytes(spec, f"healthsilk-old-node/{name}")
        assert client.add(data) == expected, name
        assert hashlib.sha256(client.cat(expected)).digest() == hashlib.sha256(data).digest(), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Seeded bytes rather than st.binary: hypothesis caps generated data far below one chunk.
@given(data=st.binary(max_size=64) | st.tuples(st.integers(0, 262144), st.integers(0, 2**32))
       .map(lambda t: random.Random(t[1]).randbytes(t[0])))
def test_raw_cid_agrees_with_node(ipfs_node: KuboProcess, data: bytes) -> None:
    assert add_with(ipfs_node, data, **ADD_PARAMS) == raw_cid(data)


def test_raw_cid_refuses_multi_chunk_payloads() -> None:
    with pytest.raises(ValueError):
        raw_cid(bytes(262145))


def test_cat_offset_and_length(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    data = bytes(range(256)) * 2048  # 512 KiB: spans two leaves
    cid = client.add(data)
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/cat", params={"arg": cid, "offset": 262100, "length": 100}, headers=ipfs_node.auth)
    assert r.content == data[262100:262200]


def test_only_hash_computes_the_cid_without_storing(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    data = os.urandom(MiB)
    before = block_files(ipfs_node.repo)
    expected = add_with(ipfs_node, data, **{**ADD_PARAMS, "only-hash": "true"})
    assert block_files(ipfs_node.repo) == before
    assert client.add(data) == expected
    assert len(block_files(ipfs_node.repo) - before) >= 5  # root + 4 leaves (and Kubo's scratch directory), written now


def test_repetitive_payload_round_trip(client: IpfsClient) -> None:
    data = bytes(4 * 262144 + 7)  # identical leaves: the same block is written once
    cid = client.add(data)
    assert client.cat(cid) == data


def test_cat_detects_a_tampered_block(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    cid = client.add(b"original ciphertext")
    (block,) = [path for path in block_files(ipfs_node.repo) if path.read_bytes() == b"original ciphertext"]
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


def test_gc_removes_unpinned_and_keeps_pinned(client: IpfsClient) -> None:
    kept_small, kept_big = b"keep", os.urandom(MiB)
    gone_small, gone_big = b"drop", os.urandom(MiB)
    keep = [client.add(kept_small), client.add(kept_big)]
    drop = [client.add(gone_small, pin=False), client.add(gone_big, pin=False)]
    unpinned_later = client.add(b"unpinned later")
    client.pin_rm(unpinned_later)

    removed = set(client.gc())
    # Kubo's add also leaves a scratch directory block per add; only the payloads' blocks are checked here.
    assert block_keys(gone_small, drop[0]) | block_keys(gone_big, drop[1]) | block_keys(b"unpinned later", unpinned_later) <= removed
    assert len(block_keys(gone_big, drop[1])) == 5  # the big one's root + 4 leaves
    assert not (block_keys(kept_small, keep[0]) | block_keys(kept_big, keep[1])) & removed
    for cid in drop + [unpinned_later]:
        with pytest.raises(IpfsNotFound):
            client.cat(cid)
    assert client.cat(keep[0]) == kept_small and client.cat(keep[1]) == kept_big
    assert client.gc() == []  # nothing left to collect


def test_gc_during_concurrent_adds_never_loses_pinned_data(ipfs_node: KuboProcess) -> None:
    payloads = [os.urandom(300_000 + i) for i in range(8)]

    def add(data: bytes) -> str:
        with ipfs_node.client() as c:
            return c.add(data)

    def gc(_: int) -> list[str]:
        with ipfs_node.client() as c:
            return c.gc()

    with ThreadPoolExecutor(max_workers=6) as pool:
        adds = [pool.submit(add, p) for p in payloads]
        gcs = [pool.submit(gc, i) for i in range(4)]
        cids = [f.result() for f in adds]
        collected = {cid for f in gcs for cid in f.result()}
    for data, cid in zip(payloads, cids, strict=True):  # every block of an add was pinned before GC could see it
        assert not block_keys(data, cid) & collected
    with ipfs_node.client() as c:
        assert [c.cat(cid) for cid in cids] == payloads


def test_pin_add_of_missing_cid_fails(client: IpfsClient) -> None:
    with pytest.raises(IpfsNotFound):
        client.pin_add(raw_cid(b"never added"))
    assert client.pins() == set()


# ---- persistence and lifecycle ------------------------------------------------------------

def test_data_and_pins_survive_restart(ipfs_node: KuboProcess) -> None:
    small, big = b"persist me", os.urandom(MiB + 1)
    with ipfs_node.client() as c:
        cids = [c.add(small), c.add(big)]
        node_id = c.node_id()["ID"]
    secret = ipfs_node.secret
    ipfs_node.restart()  # SIGTERM (graceful, exit 0), then a new process on the same repo
    assert ipfs_node.secret == secret
    with ipfs_node.client() as c:
        assert c.cat(cids[0]) == small and c.cat(cids[1]) == big
        assert c.pins() == set(cids)
        assert c.node_id()["ID"] == node_id
        assert not (block_keys(small, cids[0]) | block_keys(big, cids[1])) & set(c.gc())


def test_pinned_data_survives_kill_9(ipfs_node: KuboProcess) -> None:
    with ipfs_node.client() as c:
        cid = c.add(b"acknowledged before the crash")
    ipfs_node.stop(signal.SIGKILL)
    ipfs_node.start()
    with ipfs_node.client() as c:
        assert c.is_pinned(cid) and cid not in c.gc()
        assert c.cat(cid) == b"acknowledged before the crash"


def test_second_node_on_same_repo_is_refused(ipfs_node: KuboProcess) -> None:
    result = subprocess.run(ipfs_node.node.argv(), check=False, env={**os.environ, **ipfs_node.node.env()}, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "lock" in (result.stderr + result.stdout).lower()
    with ipfs_node.client() as c:
        assert c.node_id()["ID"]  # the first node is unharmed


def test_identity_and_version(client: IpfsClient) -> None:
    assert client.node_id()["ID"].startswith("12D3KooW")
    assert client.version().startswith("0.43.")


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


@pytest.mark.parametrize("bad", ["notacid", "bafy!!", "Qm123"])
def test_malformed_cid_is_a_clear_error(ipfs_node: KuboProcess, client: IpfsClient, bad: str) -> None:
    with pytest.raises(IpfsError) as excinfo:
        client.cat(bad)
    assert not isinstance(excinfo.value, IpfsNotFound)
    assert "invalid" in str(excinfo.value)
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/block/stat", params={"arg": bad}, headers=ipfs_node.auth)
    assert r.status_code == 500 and r.json()["Type"] == "error"


def test_missing_argument_is_a_client_error(ipfs_node: KuboProcess) -> None:
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/cat", headers=ipfs_node.auth)
    assert r.status_code == 400
    assert r.text.strip() == 'argument "ipfs-path" is required'


def test_only_post_and_no_browser_origins(ipfs_node: KuboProcess) -> None:
    assert httpx.get(f"{ipfs_node.api_url}/api/v0/id", headers=ipfs_node.auth).status_code == 405
    r = httpx.post(f"{ipfs_node.api_url}/api/v0/id", headers={**ipfs_node.auth, "Origin": "http://evil.example"})
    assert r.status_code == 403


def test_unreachable_node_raises_unavailable(ipfs_node: KuboProcess) -> None:
    secret = ipfs_node.secret
    ipfs_node.stop()
    with IpfsClient(ipfs_node.api_url, timeout=5, secret=secret) as c, pytest.raises(IpfsUnavailable):
        c.version()
