"""Crash safety, measured: kill -9 of geth, Kubo, the gateway or an institution's API during a loop of puts.

One geth network, supervised as `network up` runs it (the supervisor brings geth, Kubo and the gateway back),
and one institution API in a process of its own (restarted by the drill: nothing supervises it). Per drill, a new
patient and 40 puts over HTTP; the component is killed three times, each time while a put is in flight. The client
then retries every put that did not get its 201 with the same body, as an HIS would (the record service reuses
the spooled object, so a retry anchors the same CID once). Afterwards:

- every put that got a 201 reads back (GET, which logs the access on chain) and verifies (sha256, CID); a read
  answered 503 + Retry-After is asked again, and counted;
- no record id has two RecordAnchored events;
- no object pinned during the drill lacks an anchor (Kubo `pin/ls` against the anchors), and the spool is empty.

The counts are printed (run with -s) and written to <tmp>/crash-<component>.json.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.cid import cid_to_text
from crypto import Identity
from ledger.records import RecordRegistry
from network.ipfs_client import IpfsClient
from network.sandbox import Sandbox, sandbox_network
from tests.support.api_process import ApiProcess, admit_institution, consenting_patient, lab_result
from tests.support.rpc import rpc

PUTS = 40
# (put index, seconds into that put): a put spends ~0.1 s in validation, chain reads, sealing and the IPFS add,
# then ~0.3 s anchoring, so the three kills land in different stages (which one, exactly, the machine decides).
KILLS = ((8, 0.05), (20, 0.2), (32, 0.35))
PAUSE_AFTER_FAILURE_SECONDS = 0.5  # the client's back-off, so the loop spans the outage
RECOVERY_CEILING_SECONDS = 240.0  # for a heavily loaded machine; every wait returns as soon as its condition holds
READ_ATTEMPTS = 3
COMPONENTS = ("geth", "ipfs", "gateway", "api")


@dataclass
class DrillWorld:
    net: Sandbox
    api: ApiProcess
    token: str
    hospital: Identity
    ipfs: IpfsClient

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)


@dataclass
class Put:
    index: int
    resource: dict[str, Any]
    outcome: str = ""  # "201" or the failure: "<status> <problem slug>" / the transport error
    record: dict[str, Any] | None = None
    retries: int = 0
    created_on_retry: bool | None = None


@dataclass
class Counts:
    component: str
    kills: int = 0
    puts_attempted: int = 0
    created_first_try: int = 0
    failed: int = 0
    recovered_by_retry: int = 0
    recovered_already_anchored: int = 0  # the interrupted put had anchored; the retry only finished it
    unrecovered: int = 0
    retries_sent: int = 0
    readable_and_verified: int = 0
    double_anchors: int = 0
    orphan_pins: int = 0
    spool_left: int = 0
    reads_asked_again: list[str] = field(default_factory=list)  # reads first answered 503 + Retry-After, and why
    back_after_kill_seconds: list[float] = field(default_factory=list)  # per kill, until geth, Kubo, gateway and API answer
    failures: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillWorld]:
    root = tmp_path_factory.mktemp("crash-network")
    with sandbox_network(root, "healthsilk-test/crash", engine="geth", supervise=True) as net:
        work = tmp_path_factory.mktemp("crash-api")
        hospital, key_file = admit_institution(net, "crash-hospital", work)
        api = ApiProcess(net, key_file, work / "api")
        token = api.create_token()
        api.start()
        try:
            yield DrillWorld(net=net, api=api, token=token, hospital=hospital, ipfs=IpfsClient(net.settings.ipfs_url))
        finally:
            api.stop()


def _eventually(condition: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_CEILING_SECONDS:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - "not yet" while a component restarts
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {RECOVERY_CEILING_SECONDS:.0f}s waiting for: {what}")


def _all_answer(world: DrillWorld) -> bool:
    s = world.net.settings
    return (
        int(rpc(s.gateway_url, "eth_chainId")["result"], 16) == s.chain_id
        and bool(world.ipfs.version())
        and httpx.get(f"{world.api.url}/health", timeout=2).status_code == 200
    )


def _kill(world: DrillWorld, component: str) -> None:
    network = world.net.network
    if component == "api":
        world.api.kill_hard()
        world.api.start()  # nothing supervises an institution's API: its operator (here, the drill) restarts it
    else:
        {"geth": network.chain, "ipfs": network.ipfs, "gateway": network.gateway}[component].kill_hard()  # the supervisor restarts it


def _attempt(client: httpx.Client, patient: str, put: Put) -> tuple[str, dict[str, Any] | None]:
    try:
        answer = client.post(f"/v1/patients/{patient}/records", json=put.resource)
    except httpx.TransportError as exc:
        return type(exc).__name__, None
    if answer.status_code == 201:
        return "201", answer.json()[0]
    try:
        slug = str(answer.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        slug = answer.text[:60]
    return f"{answer.status_code} {slug}", None


def _loop(world: DrillWorld, component: str, patient: str) -> tuple[list[Put], list[float]]:
    """The puts, with the component killed during three of them; returns them and, per kill, the seconds until
    every component answered again."""
    puts = [Put(index, lab_result(f"crash-{component}", index)) for index in range(PUTS)]
    back_after: list[float] = []

    def killer(delay: float) -> None:
        time.sleep(delay)
        killed_at = time.monotonic()
        _kill(world, component)
        _eventually(lambda: _all_answer(world), f"the network answering again after kill -9 of {component}")
        back_after.append(time.monotonic() - killed_at)

    threads = {index: threading.Thread(target=killer, args=(delay,), name=f"kill-{component}-{index}") for index, delay in KILLS}
    with world.client() as client:
        for put in puts:
            if put.index in threads:
                threads[put.index].start()
            put.outcome, put.record = _attempt(client, patient, put)
            if put.record is None:
                time.sleep(PAUSE_AFTER_FAILURE_SECONDS)
    for thread in threads.values():
        thread.join(timeout=2 * RECOVERY_CEILING_SECONDS)
    assert len(back_after) == len(KILLS), f"the {component} was not killed {len(KILLS)} times, or the network did not come back"
    return puts, back_after


def _retry(world: DrillWorld, patient: str, failed: list[Put]) -> None:
    """Each failed put again, same body, until it gets its 201 (the spool makes this safe at any point)."""
    deadline = time.monotonic() + RECOVERY_CEILING_SECONDS
    with world.client() as client:
        for put in failed:
            while put.record is None and time.monotonic() < deadline:
                put.retries += 1
                _, put.record = _attempt(client, patient, put)
                if put.record is None:
                    time.sleep(1.0)
            if put.record is not None:
                put.created_on_retry = bool(put.record["created"])


def _unreadable(world: DrillWorld, put: Put, first_failures: list[str]) -> str | None:
    """None when GET (decrypted, access logged on chain) returns what was put and the verification route finds it
    intact; otherwise what went wrong. A read the API answers with 503 + Retry-After is asked again (twice at
    most), as a client would, and the first answer is noted in `first_failures` for the report."""
    record_id = put.record["record_id"] if put.record else ""
    with world.client() as client:
        for _ in range(READ_ATTEMPTS):
            read = client.get(f"/v1/records/{record_id}")
            check = client.get(f"/v1/records/{record_id}/verification")
            transient = [answer for answer in (read, check) if answer.status_code == 503 and "retry-after" in answer.headers]
            if not transient:
                break
            first_failures.append(f"put {put.index}: {transient[0].status_code} {transient[0].text[:300]}")
            time.sleep(1.0)
    if read.status_code != 200 or check.status_code != 200:
        return f"put {put.index} {record_id}: GET {read.status_code} {read.text[:300]} / verification {check.status_code} {check.text[:200]}"
    resource, verdict = read.json(), check.json()
    if resource.get("id") != put.resource["id"] or resource["valueQuantity"]["value"] != put.resource["valueQuantity"]["value"]:
        return f"put {put.index} {record_id}: read back {resource.get('id')}, not what was put"
    if not all(verdict[key] for key in ("anchored", "payload_available", "sha256_ok", "cid_ok")) or verdict["erased"]:
        return f"put {put.index} {record_id}: verification {verdict}"
    return None


@pytest.mark.parametrize("component", COMPONENTS)
def test_kill_9_during_puts_loses_nothing_and_doubles_nothing(world: DrillWorld, component: str, tmp_path: Path) -> None:
    _eventually(lambda: _all_answer(world), "every component answering before the drill")
    with world.client() as client:
        patient = consenting_patient(client, world.net, world.hospital.address).address
    pins_before = world.ipfs.pins()

    puts, back_after = _loop(world, component, patient)
    counts = Counts(component, puts_attempted=len(puts), kills=len(KILLS), back_after_kill_seconds=[round(seconds, 1) for seconds in back_after])
    failed = [put for put in puts if put.record is None]
    counts.created_first_try = len(puts) - len(failed)
    counts.failed = len(failed)
    counts.failures = dict(Counter(put.outcome for put in failed))

    _retry(world, patient, failed)
    counts.retries_sent = sum(put.retries for put in failed)
    counts.recovered_by_retry = sum(1 for put in failed if put.record is not None)
    counts.recovered_already_anchored = sum(1 for put in failed if put.created_on_retry is False)
    counts.unrecovered = counts.failed - counts.recovered_by_retry

    stored = [put for put in puts if put.record is not None]
    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent reads share access-log transactions
        unreadable = [problem for problem in pool.map(lambda put: _unreadable(world, put, counts.reads_asked_again), stored) if problem]
    counts.readable_and_verified = len(stored) - len(unreadable)

    anchors = RecordRegistry(world.net.ledger()).anchors_of(patient)
    per_record = Counter("0x" + anchor.record_id.hex() for anchor in anchors)
    counts.double_anchors = sum(1 for times in per_record.values() if times > 1)
    orphans = world.ipfs.pins() - pins_before - {cid_to_text(anchor.cid) for anchor in anchors}
    counts.orphan_pins = len(orphans)
    counts.spool_left = len(world.api.spooled())

    report = asdict(counts)
    (tmp_path / f"crash-{component}.json").write_text(json.dumps(report, indent=1))
    print(f"\ncrash drill, kill -9 of {component}: {json.dumps(report)}")

    assert counts.failed >= 1, f"killing {component} during puts should have failed at least one: {report}"
    assert counts.unrecovered == 0, f"puts that never succeeded on retry: {[put.outcome for put in failed if put.record is None]}"
    assert counts.readable_and_verified == len(stored) == PUTS, unreadable
    assert counts.double_anchors == 0, f"records anchored twice: {[rid for rid, times in per_record.items() if times > 1]}"
    assert set(per_record) == {put.record["record_id"] for put in stored if put.record}, "anchors and 201s disagree"
    assert orphans == set(), f"pinned without an anchor: {sorted(orphans)}"
    assert counts.spool_left == 0, f"spooled puts left: {world.api.spooled()}"
