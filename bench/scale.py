"""Does a write cost the same at 100k anchored records as at 1k? Put and anchor times as a geth ledger grows.

    python -m bench.scale --json [--sizes 1000,10000,100000] [--puts 20] [--batch 512] [--in-flight 4]

Starts two throwaway geth networks (durable datadir, a block per transaction, the permissioning gateway in front,
Kubo), each with one institution's API in this process (uvicorn on a loopback port, its own sender and spool).
One ledger is grown to each size; the other, the reference, stays at the smallest. Growing uses
`RecordRegistry.anchorBatch` sent by a second provider through the gateway: `--batch` records per transaction,
`--in-flight` transactions pipelined, each batch with its real manifest (healthsilk-batch-manifest/1: every record
in full) added to Kubo and its root checked against the one the contract built. The batched records are
synthetic: their payloads are not in IPFS, only the manifests.

At each size, timed on both networks in alternation (so both meet the same moments of a shared machine):
`--puts` single puts through the API over HTTP (1 KiB ECG: validate, seal, pin in Kubo, anchorRecord, receipt;
three untimed warm-up puts first), then as many `anchorRecord` transactions alone through the API's own sender
(send to receipt). Reported per size: median / p90 / min of both, node disk use (du of the geth datadir and of
the Kubo repo), blocks, the bulk-load time, and the same figures of the reference. Then:

- `ratio_100k_to_1k`: median put at 100k over the median put at 1k, on the grown network (goal <= 1.2; the
  largest over the smallest size when those are not among --sizes). Timed minutes apart, so the machine's other
  load moves it too.
- `ratio_100k_to_1k_same_moment`: median put on the grown network at 100k over the reference's (held at the
  smallest size) in the same interleaved minutes: the ledger's size, without the machine's drift.
- `ratio_largest_to_smallest` (and `_same_moment`): the same for the largest size asked for (e.g. 1,000,000).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3.logs import DISCARD

from records.cid import cid_to_bytes
from bench.api import admit, consenting_patients, sized_ecg
from bench.network import BenchNetwork, bench_account, exit_cleanly_on_sigterm, free_port, throwaway_network
from crypto import Identity
from ledger.merkle import BatchRecord, RecordBatch
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category
from network.ipfs_client import IpfsClient

KiB = 1024
PUT_GOAL_RATIO = 1.2
WARM_UP_PUTS = 3
BULK_PATIENTS = 16  # entries are grouped by patient, as the record service batches them (one consent read per run)
MANIFEST_FORMAT = "healthsilk-batch-manifest/1"
ANCHOR_BATCH_SELECTOR = keccak(text="anchorBatch((bytes32,address,uint8)[],bytes)")[:4]
RAW_CID_PREFIX = b"\x01\x55\x12\x20"  # CIDv1, raw, sha2-256, 32-byte digest


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def du_bytes(path: Path) -> int:
    """Disk use as `du` counts it (allocated blocks), of every file under `path`."""
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                pass  # removed meanwhile (a compaction)
    return total


class BatchLoader:
    """Grows the ledger with anchorBatch transactions of one provider, sent through the gateway, pipelined.

    The main thread builds each batch (records, Merkle tree); a pool of `in_flight` threads adds its manifest to
    Kubo and sends the transaction, so manifests, gas estimates and sends overlap; receipts are taken in order
    and each batch's root is checked against the one the contract built and logged."""

    def __init__(self, net: BenchNetwork, provider: LocalAccount, patients: list[str], batch_size: int, in_flight: int) -> None:
        self.ledger = net.ledger()
        self.sender = self.ledger.sender(provider)
        self.registry = self.ledger.contract("RecordRegistry")
        self.ipfs = IpfsClient(net.settings.ipfs_url)
        self.patients = patients
        self.batch_size = batch_size
        self.in_flight = in_flight
        self.anchored = 0
        self.transactions = 0
        self.seconds = 0.0

    def grow_to(self, size: int) -> None:
        started = time.perf_counter()
        planned = self.anchored
        pending: deque[tuple[RecordBatch, Future[HexBytes]]] = deque()
        with ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="bench-scale-send") as pool:
            while planned < size or pending:
                while planned < size and len(pending) < self.in_flight:
                    batch = self._batch(planned, min(self.batch_size, size - planned))
                    pending.append((batch, pool.submit(self._send, batch)))
                    planned += len(batch.records)
                batch, sent = pending.popleft()
                receipt = self.sender.wait(sent.result())
                (event,) = self.registry.events.RecordBatchAnchored().process_receipt(receipt, errors=DISCARD)
                if bytes(event["args"]["root"]) != batch.root or event["args"]["count"] != len(batch.records):
                    raise RuntimeError(f"the contract built root 0x{bytes(event['args']['root']).hex()}, the manifest gives 0x{batch.root.hex()}")
                self.anchored += len(batch.records)
                self.transactions += 1
        self.seconds += time.perf_counter() - started

    def _send(self, batch: RecordBatch) -> HexBytes:
        manifest = cid_to_bytes(self.ipfs.add(_manifest(batch)))
        # Encoded once, by eth_abi: web3's contract-function path validates 512 tuples twice (estimate, send).
        calldata = ANCHOR_BATCH_SELECTOR + encode(["(bytes32,address,uint8)[]", "bytes"], [batch.entries(), manifest])
        return self.sender.submit_data(self.registry.address, "0x" + calldata.hex())

    def _batch(self, first: int, count: int) -> RecordBatch:
        records = []
        for index in range(first, first + count):
            payload = f"healthsilk-bench/scale-record-{index}".encode()
            digest = hashlib.sha256(payload).digest()
            cid = RAW_CID_PREFIX + digest  # CIDv1, raw codec, sha2-256: what Kubo gives this payload
            records.append(BatchRecord(hashlib.sha256(b"record-id/" + payload).digest(), self.patients[index % len(self.patients)], int(Category.ECG), digest, cid))
        records.sort(key=lambda record: record.patient)  # runs of one patient: one consent read each
        return RecordBatch(records)


def _manifest(batch: RecordBatch) -> bytes:
    """healthsilk-batch-manifest/1 (ledger/audit/deep.py): every record in full, in leaf order; CIDs as 0x-hex."""
    records = [
        {"recordId": "0x" + r.record_id.hex(), "patient": r.patient, "category": r.category, "contentHash": "0x" + r.content_hash.hex(), "cid": "0x" + r.cid.hex()}
        for r in batch.records
    ]
    return json.dumps({"format": MANIFEST_FORMAT, "records": records}, separators=(",", ":")).encode()


@contextmanager
def serving_api(net: BenchNetwork, hospital: Identity, root: Path) -> Iterator[tuple[str, str, Any]]:
    """The institution's API in this process on a loopback port; yields (url, write token, its Services)."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    s = net.settings
    app = create_app(ApiSettings(data_dir=root / "api", gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url), hospital)
    services = app.state.services
    token = services.auth.create_token("bench-scale", frozenset({"write"}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="bench-scale-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token, services
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def admit_loader(net: BenchNetwork, label: str) -> LocalAccount:
    """The second provider, which bulk-loads (its own key: it never races the API's sender for nonces)."""
    ledger = net.ledger()
    account = bench_account(f"{label}-bulk-loader")
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=account.address, name="Bench Batch Loader", country="CN", roles=["PROVIDER"], hpke_public_key=b"\x01" * 33)
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    return account


@dataclass
class Site:
    """One network as the bench drives it: the institution's API (in this process) and its consenting patient,
    and the second provider that grows the ledger."""

    net: BenchNetwork
    loader: BatchLoader
    patient: str
    client: httpx.Client
    services: Any
    singles: int = 0  # records anchored on their own: the puts and anchors timed here
    seeds: Iterator[int] = field(default_factory=itertools.count)

    def put(self) -> float:
        """Seconds for one put through the API (request to 201): a new 1 KiB ECG."""
        seed = next(self.seeds)
        body = sized_ecg(KiB, seed)
        started = time.perf_counter()
        answer = self.client.post(f"/v1/patients/{self.patient}/records", json=body)
        elapsed = time.perf_counter() - started
        if answer.status_code != 201 or not answer.json()[0]["created"]:
            raise RuntimeError(f"put {seed} failed: {answer.status_code} {answer.text[:300]}")
        self.singles += 1
        return elapsed

    def anchor(self) -> float:
        """Seconds for one anchorRecord alone (send to receipt) through the API's own sender and the gateway."""
        payload = f"healthsilk-bench/scale-anchor-{next(self.seeds)}".encode()
        digest = hashlib.sha256(payload).digest()
        record = NewRecord(record_id=hashlib.sha256(b"record-id/" + payload).digest(), patient=self.patient, category=int(Category.ECG), content_hash=digest, cid=RAW_CID_PREFIX + digest)
        started = time.perf_counter()
        RecordRegistry(self.services.ledger).anchor(self.services.sender, record)
        self.singles += 1
        return time.perf_counter() - started

    @property
    def records_anchored(self) -> int:
        return self.loader.anchored + self.singles

    def disk(self) -> dict[str, float]:
        s = self.net.settings
        return {"geth_datadir_mb": round(du_bytes(s.chain_dir) / 2**20, 1), "kubo_repo_mb": round(du_bytes(s.ipfs_repo) / 2**20, 1)}


def open_site(stack: ExitStack, label: str, batch_size: int, in_flight: int) -> Site:
    net = stack.enter_context(throwaway_network(f"healthsilk-bench/{label}", engine="geth"))
    hospital = admit(net, f"{label}-hospital", "Bench Scale Hospital")
    loader_account = admit_loader(net, label)
    (patient,) = consenting_patients(net, hospital.address, 1)
    bulk_patients = [p.address for p in consenting_patients(net, loader_account.address, BULK_PATIENTS)]
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"healthsilk-{label}-")))
    url, token, services = stack.enter_context(serving_api(net, hospital, tmp))
    client = stack.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120))
    return Site(net, BatchLoader(net, loader_account, bulk_patients, batch_size, in_flight), patient.address, client, services)


def interleaved(grown: Site, reference: Site, measure: Callable[[Site], float], count: int) -> tuple[list[float], list[float]]:
    """`count` timings on each site, alternating which goes first, so both meet the same moments of the machine."""
    times: dict[int, list[float]] = {id(grown): [], id(reference): []}
    for index in range(count):
        for site in (grown, reference) if index % 2 == 0 else (reference, grown):
            times[id(site)].append(measure(site))
    return times[id(grown)], times[id(reference)]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 4), "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4), "min": round(ordered[0], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="anchored records to grow to, ascending (comma separated)")
    parser.add_argument("--puts", type=int, default=20, help="timed puts (and anchors alone) per size, on each network")
    parser.add_argument("--batch", type=int, default=512, help="records per anchorBatch transaction (contract limit 1024)")
    parser.add_argument("--in-flight", type=int, default=4, help="batch transactions pipelined")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    exit_cleanly_on_sigterm()
    began = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        grown = open_site(stack, "scale", args.batch, args.in_flight)
        reference = open_site(stack, "scale-reference", args.batch, args.in_flight)
        reference.loader.grow_to(sizes[0])
        for site in (grown, reference):
            for _ in range(WARM_UP_PUTS):  # connections, the record service's first use, caches
                site.put()
        for size in sizes:
            log(f"growing the ledger to {size} batch-anchored records ...")
            grown.loader.grow_to(size)
            log(f"  loaded in {grown.loader.seconds:.1f}s so far ({grown.loader.transactions} batch transactions); timing {args.puts} puts and anchors ...")
            puts, reference_puts = interleaved(grown, reference, Site.put, args.puts)
            anchors, reference_anchors = interleaved(grown, reference, Site.anchor, args.puts)
            results.append(
                {
                    "target": size, "records_anchored": grown.records_anchored, "of_which_single": grown.singles, "put_s": summary(puts), "anchor_s": summary(anchors),
                    **grown.disk(), "blocks": int(grown.net.w3.eth.block_number), "bulk_load_seconds_total": round(grown.loader.seconds, 1),
                    "reference": {"records_anchored": reference.records_anchored, "put_s": summary(reference_puts), "anchor_s": summary(reference_anchors)},
                    "put_over_reference": round(statistics.median(puts) / statistics.median(reference_puts), 2),
                }
            )
            log("  " + json.dumps(results[-1]))
    by_target = {result["target"]: result for result in results}
    small, large = by_target.get(1000, results[0]), by_target.get(100_000, results[-1])
    ratio = round(large["put_s"]["median"] / small["put_s"]["median"], 2)
    same_moment = large["put_over_reference"]
    out = {
        "benchmark": "put and anchor time as a geth ledger grows (bulk-loaded by anchorBatch)",
        "machine_note": "shared machine; two networks (geth, Kubo, gateway, API each) and the client share it",
        "machine": {"cpus": os.cpu_count(), "load_average_1m_at_start": load_at_start, "load_average_1m_at_end": os.getloadavg()[0]},
        "engine": "geth (--dev.period 0, leveldb, hash scheme, archive) behind the permissioning gateway; Kubo",
        "batch_size": args.batch, "in_flight": args.in_flight, "puts_per_size": args.puts,
        "sizes": results,
        "ratio_100k_to_1k": ratio,
        "ratio_sizes": [small["records_anchored"], large["records_anchored"]],
        "ratio_100k_to_1k_same_moment": same_moment,
        "anchor_ratio": round(large["anchor_s"]["median"] / small["anchor_s"]["median"], 2),
        "ratio_largest_to_smallest": round(results[-1]["put_s"]["median"] / results[0]["put_s"]["median"], 2),
        "ratio_largest_to_smallest_same_moment": results[-1]["put_over_reference"],
        "goal": f"put time ratio <= {PUT_GOAL_RATIO}",
        "goal_met": {"ratio_100k_to_1k": ratio <= PUT_GOAL_RATIO, "ratio_100k_to_1k_same_moment": same_moment <= PUT_GOAL_RATIO},
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
