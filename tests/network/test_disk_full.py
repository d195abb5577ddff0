"""A full or read-only disk under the chain node: a put gets a typed, clear problem, and nothing is left half done.

geth's datadir lives on a small file system the test mounts itself (tests/support/small_disk.py). With the disk
filled (or turned read-only) a put through an institution's API, in a process of its own, meets the node's
own reaction: geth exits on its first failed write, or shuts itself down when its free space is below
--datadir.minfreedisk. The API must answer 507 storage-full with a sentence saying the chain node's disk is full
(read-only), and the gateway STORAGE_FULL: never the node's raw -32603 "no space left on device" or a bare
"unavailable". (A put whose writes still fit in the free bytes of a page the node holds open succeeds first, and
is then stored for good: the put under test is the first that meets the disk.) Then space comes back, the node is
restarted, and:

- the chain is the one from before (every anchor made before in the same block);
- the put that failed, retried with the same body (again while the API says Retry-After), succeeds, and a new
  put too;
- no record is anchored twice, no object pinned during the test lacks an anchor, the spool is empty, and every
  record reads back and verifies.

The figures are printed (run with -s) and written to <tmp>/disk-<mode>.json.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.cid import cid_to_text
from ledger.records import RecordRegistry
from network.gateway.errors import STORAGE_FULL
from network.gateway.upstream import NodeStorage, name_storage_failure
from network.ipfs_client import IpfsClient
from network.launcher import LocalNetwork
from network.sandbox import sandbox_network
from network.settings import NetworkSettings
from tests.support.api_process import ApiProcess, admit_institution, consenting_patient, lab_result
from tests.support.rpc import rpc
from tests.support.small_disk import SmallDisk, small_disk

# geth runs with --cache settings.geth_cache_mb (128), so it shuts down below 2 x 128 x 25 % = 64 MiB free and
# warns below twice that: three times the floor (192 MiB) lets it start and run quietly until the test fills the disk.
DISK_MB = 3 * (2 * NetworkSettings().geth_cache_mb * 25 // 100)
WAIT_SECONDS = 90.0  # ceilings for a loaded machine; each wait returns as soon as its condition holds
RAW_NODE_ERRORS = ("-32603", "[Errno", "no space left on device", "read-only file system")


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - "not yet"
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def _put(client: httpx.Client, patient: str, resource: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/patients/{patient}/records", json=resource)


def _put_until_stored(client: httpx.Client, patient: str, resource: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    """Put, and again while the API says to retry (503/507 with Retry-After), as a client would; returns the last
    answer and the problems met on the way."""
    met: list[str] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        answer = _put(client, patient, resource)
        if answer.status_code == 201 or "retry-after" not in answer.headers or time.monotonic() > deadline:
            return answer, met
        met.append(f"{answer.status_code} {answer.json().get('detail', '')}")
        time.sleep(1.0)


def _break(disk: SmallDisk, mode: str, network: LocalNetwork) -> int:
    """Fill the disk under a running node; or turn it read-only under a node that goes down with it and is then
    started again the way the supervisor would (the kernel refuses a read-only remount while files are open for
    writing, as a disk failing under a node also takes the node down). Returns the bytes written to fill it."""
    if mode == "full":
        return disk.fill()
    network.chain.kill_hard()
    disk.read_only()
    spec = network.chain.spec()
    assert spec is not None
    network.chain.start(spec.argv, spec.env)
    return 0


def _repair(disk: SmallDisk, mode: str) -> None:
    if mode == "full":
        disk.free()
    else:
        disk.read_write()


def _storage_problem(answer: httpx.Response, mode: str) -> dict[str, Any]:
    """507 storage-full, a problem document whose sentence names the chain node's disk; nothing raw."""
    assert answer.status_code == 507, f"{answer.status_code} {answer.text[:600]}"
    assert answer.headers["content-type"].startswith("application/problem+json") and answer.headers.get("retry-after")
    problem = dict(answer.json())
    assert problem["type"].endswith("/storage-full") and problem["status"] == 507, problem
    wanted = "the chain node's disk is full" if mode == "full" else "the chain node's disk is read-only"
    assert wanted in problem["detail"], problem
    return problem


def _reads_back(client: httpx.Client, record: dict[str, Any], resource: dict[str, Any]) -> bool:
    read = client.get(f"/v1/records/{record['record_id']}")
    verdict = client.get(f"/v1/records/{record['record_id']}/verification").json()
    return (
        read.status_code == 200 and read.json()["id"] == resource["id"]
        and all(verdict[key] for key in ("anchored", "payload_available", "sha256_ok", "cid_ok"))
    )


@pytest.mark.slow  # the full disk: up to a minute while the API's sender waits out the stopped node (receipt_timeout)
@pytest.mark.parametrize("mode", ["full", "read-only"])
def test_a_full_or_read_only_chain_disk_is_a_clear_problem_and_leaves_the_data_consistent(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "net"
    root.mkdir()
    with small_disk(root / "data" / "chain", DISK_MB) as disk, sandbox_network(root, f"healthsilk-test/disk-{mode}", engine="geth") as net:
        network, settings = net.network, net.settings
        hospital, key_file = admit_institution(net, f"disk-{mode}", tmp_path)
        api = ApiProcess(net, key_file, tmp_path / "api")
        token = api.create_token()
        api.start()
        ipfs = IpfsClient(settings.ipfs_url)
        try:
            with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
                patient = consenting_patient(client, net, hospital.address).address
                pins_before = ipfs.pins()
                resources = (lab_result(f"disk-{mode}", index) for index in range(1000))
                stored: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (the API's record, the resource put)
                first = _put(client, patient, resource := next(resources))
                assert first.status_code == 201, first.text
                stored.append((first.json()[0], resource))

                filled = _break(disk, mode, network)
                # A write small enough for the free bytes left in the last page of a file the node holds open can
                # still succeed (and is then stored for good); the first put that meets the disk is the one under test.
                deadline = time.monotonic() + WAIT_SECONDS
                while (answer := _put(client, patient, failed := next(resources))).status_code == 201 and time.monotonic() < deadline:
                    stored.append((answer.json()[0], failed))
                squeezed_in = len(stored) - 1
                during = _storage_problem(answer, mode)
                # geth protects its database by stopping; the gateway says why, in its own typed error.
                _eventually(lambda: network.chain.pid() is None, "geth to stop on (or refuse) its unwritable disk")
                gateway = rpc(settings.gateway_url, "eth_blockNumber")["error"]
                assert gateway["code"] == STORAGE_FULL and "the chain node's disk is" in gateway["message"], gateway
                again = _storage_problem(_put(client, patient, later := next(resources)), mode)
                for text in (during["detail"], again["detail"], gateway["message"]):
                    assert not any(raw in text for raw in RAW_NODE_ERRORS), text

                _repair(disk, mode)
                report = network.up(supervise=False)
                assert report.started["geth"] is not None and report.deployed == []
                for record, _ in stored:
                    receipt = rpc(settings.gateway_url, "eth_getTransactionReceipt", [record["transaction_hash"]])["result"]
                    assert int(receipt["blockNumber"], 16) == record["block_number"], "the chain before the disk filled came back changed"

                retried, retry_met = _put_until_stored(client, patient, failed)
                assert retried.status_code == 201, retried.text
                fresh = _put(client, patient, later)
                assert fresh.status_code == 201, fresh.text
                stored += [(retried.json()[0], failed), (fresh.json()[0], later)]

                anchors = RecordRegistry(net.ledger()).anchors_of(patient)
                per_record = Counter("0x" + anchor.record_id.hex() for anchor in anchors)
                orphans = ipfs.pins() - pins_before - {cid_to_text(anchor.cid) for anchor in anchors}
                readable = [_reads_back(client, record, resource) for record, resource in stored]
            figures = {
                "mode": mode, "file_system": f"{disk.kind}, {DISK_MB} MiB", "filled_bytes": filled, "puts_squeezed_in_after_filling": squeezed_in,
                "put_during": {"status": 507, "type": during["type"], "detail": during["detail"]},
                "gateway_error": gateway, "retry_created": retried.json()[0]["created"], "retry_met_first": retry_met,
                "anchors": len(anchors), "double_anchors": sum(1 for times in per_record.values() if times > 1),
                "orphan_pins": len(orphans), "spool_left": len(api.spooled()), "readable_and_verified": sum(readable),
            }
            (tmp_path / f"disk-{mode}.json").write_text(json.dumps(figures, indent=1))
            print(f"\nchain disk {mode}: {json.dumps(figures)}")
            assert set(per_record) == {record["record_id"] for record, _ in stored} and figures["double_anchors"] == 0, per_record
            assert orphans == set(), f"pinned without an anchor: {sorted(orphans)}"
            assert figures["spool_left"] == 0 and all(readable), figures
        finally:
            api.stop()
            ipfs.close()


def test_the_free_space_floor_follows_geths_own_rule() -> None:
    """geth (cmd/utils StartNode) shuts down below --datadir.minfreedisk, else 2 x --cache x --cache.gc % MB."""
    mib = 1024 * 1024
    ours = NodeStorage.of_geth_argv(["--dev", "--datadir", "/d", "--cache", "128", "--gcmode", "archive"])
    assert ours == NodeStorage(Path("/d"), 64 * mib)
    assert NodeStorage.of_geth_argv(["--datadir=/d", "--cache.gc", "50"]) == NodeStorage(Path("/d"), 1024 * mib)
    assert NodeStorage.of_geth_argv(["--datadir", "/d"]) == NodeStorage(Path("/d"), 512 * mib)
    assert NodeStorage.of_geth_argv(["--datadir", "/d", "--cache", "128", "--datadir.minfreedisk", "0"]) == NodeStorage(Path("/d"), 0)
    assert NodeStorage.of_geth_argv(["--dev", "--cache", "128"]) is None  # in memory: nothing on disk to look at


def test_a_nodes_own_could_not_write_error_becomes_storage_full(tmp_path: Path) -> None:
    """The answer the issue quotes (-32603 "[Errno 28] ...") never reaches a client as it is; contract reverts stay."""
    raw = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "[Errno 28] No space left on device: 'state.json.tmp'", "data": "x"}}
    name_storage_failure(raw, NodeStorage(tmp_path, min_free_bytes=2**62))  # more than any disk has: "full"
    assert raw["error"]["code"] == STORAGE_FULL and raw["error"]["message"].startswith("the chain node's disk is full (") and "data" not in raw["error"]
    assert not any(text in raw["error"]["message"] for text in RAW_NODE_ERRORS)
    unknown = {"jsonrpc": "2.0", "id": 8, "error": {"code": -32000, "message": "write /x/000003.log: read-only file system"}}
    name_storage_failure(unknown, None)
    assert unknown["error"] == {"code": STORAGE_FULL, "message": "the chain node's disk is full or read-only: the node could not write and did not carry out the request. Free space there (or remount it read-write), then retry"}
    revert = {"jsonrpc": "2.0", "id": 9, "error": {"code": 3, "message": "execution reverted: no space left on device", "data": "0x08c379a0"}}
    name_storage_failure(revert, None)
    assert revert["error"]["code"] == 3
    fine = {"jsonrpc": "2.0", "id": 10, "result": "0x1"}
    name_storage_failure(fine, None)
    assert fine == {"jsonrpc": "2.0", "id": 10, "result": "0x1"}
