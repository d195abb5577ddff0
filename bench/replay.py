"""Audit replay speed: events replayed per second next to fetching the same logs alone, at growing ledger sizes.

    python -m bench.replay --json [--sizes 10000,100000] [--max-block-range 25]

Starts a throwaway network and grows the ledger in steps to each size (events of the project contracts). At each
size, through the permissioning gateway as an auditor would: (1) the raw fetch: eth_getLogs of every project
contract over the whole chain, same chunking, JSON parsed but nothing decoded; (2) the audit replay: the same fetch
plus decoding, block times, rebuilding the state and checking every event rule; (3) the end-block comparison with
the contracts' views (batched eth_call, reported separately: it grows with the state, not the event count).

Loading (on the operator's private port, automine off, a few hundred transactions per block, anvil impersonation):
per patient one direct consent grant to one of two providers, two records anchored by that provider, and two reads
logged by the provider in `recordsAccessed` calls covering 20 patients each (one RecordsAccessed event per patient).
So 5 events per patient: 20% ConsentGranted, 40% RecordAnchored, 40% RecordsAccessed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from bench.decisions import OperatorRpc, admit_providers
from bench.network import BenchNetwork, exit_cleanly_on_sigterm, throwaway_network
from ledger.audit import AuditOptions, run_audit
from ledger.audit.fetch import ContractSet
from ledger.events import EventReader

GRANT_SELECTOR = keccak(text="grantConsent(address,(address,uint16,uint8,uint40,uint40,uint40,uint40))")[:4]
ANCHOR_SELECTOR = keccak(text="anchorRecord((bytes32,address,uint8,bytes32,bytes,bytes32))")[:4]
READ_SELECTOR = keccak(text="recordsAccessed(bytes32[],uint8)")[:4]
EVENTS_PER_PATIENT = 5
READ_RUN = 20  # patients per recordsAccessed call
GAS_LIMIT = 30_000_000
FEES = {"maxFeePerGas": hex(20 * 10**9), "maxPriorityFeePerGas": hex(10**9)}
YEAR = 365 * 86_400


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Loader:
    """Bulk-loads patients (grant, two anchors, two reads each) through impersonated senders on the private port."""

    def __init__(self, net: BenchNetwork, providers: list[str]) -> None:
        self.rpc = OperatorRpc(net.settings.anvil_url)
        deployments = net.ledger().deployments
        self.consents, self.records = deployments.address_of("ConsentLedger"), deployments.address_of("RecordRegistry")
        self.providers = providers
        self.loaded = 0
        self.seconds = 0.0
        self.blocks = 0

    def grow(self, patients: int) -> None:
        started = time.perf_counter()
        now = int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        batch = range(self.loaded, self.loaded + patients)
        people = {i: to_checksum_address(keccak(text=f"healthsilk-bench/replay-patient-{i}")[:20]) for i in batch}
        self.rpc.batch([("anvil_setBalance", [people[i], hex(10**18)]) for i in batch])
        self.rpc.call("anvil_autoImpersonateAccount", [True])
        self.rpc.call("evm_setAutomine", [False])
        # Explicit nonces: anvil may hand the same pending nonce to concurrent sends of one sender.
        self.nonces = {p: int(self.rpc.call("eth_getTransactionCount", [p, "pending"]), 16) for p in self.providers}
        self.nonces.update({people[i]: int(self.rpc.call("eth_getTransactionCount", [people[i], "pending"]), 16) for i in batch} if self.loaded == 0 else {people[i]: 0 for i in batch})
        try:
            grants, anchors, reads = [], [], []
            by_provider: dict[str, list[bytes]] = {p: [] for p in self.providers}
            for i in batch:
                provider = self.providers[i % len(self.providers)]
                terms = (provider, 0x7F, 0x1F, now - 86_400, now + YEAR, 0, 0)
                grants.append(self._tx(people[i], self.consents, GRANT_SELECTOR + encode(["address", "(address,uint16,uint8,uint40,uint40,uint40,uint40)"], [people[i], terms]), 150_000))
                for n in range(2):
                    record_id = keccak(text=f"replay-record-{i}-{n}")
                    digest = hashlib.sha256(record_id).digest()
                    record = (record_id, people[i], n * 2, digest, b"\x01\x55\x12\x20" + digest, b"\x00" * 32)
                    anchors.append(self._tx(provider, self.records, ANCHOR_SELECTOR + encode(["(bytes32,address,uint8,bytes32,bytes,bytes32)"], [record]), 200_000))
                    by_provider[provider].append(record_id)
            for provider, ids in by_provider.items():
                # Interleave the two records of each patient into two calls so every call covers READ_RUN patients.
                for offset in range(0, len(ids), 2 * READ_RUN):
                    chunk = ids[offset : offset + 2 * READ_RUN]
                    for half in (chunk[0::2], chunk[1::2]):
                        if half:
                            reads.append(self._tx(provider, self.records, READ_SELECTOR + encode(["bytes32[]", "uint8"], [half, 1]), 60_000 + 25_000 * len(half)))
            for transactions in (grants, anchors, reads):
                self._send(transactions)
        finally:
            self.rpc.call("evm_setAutomine", [True])
            self.rpc.call("anvil_autoImpersonateAccount", [False])
        self.loaded += patients
        self.seconds += time.perf_counter() - started

    def _tx(self, sender: str, to: str, data: bytes, gas: int) -> dict[str, str]:
        nonce = self.nonces[sender]
        self.nonces[sender] = nonce + 1
        return {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(gas), "nonce": hex(nonce), **FEES}

    def _send(self, transactions: list[dict[str, str]]) -> None:
        """Fill blocks up to the gas limit (by the gas each transaction may use), mine, repeat."""
        start = 0
        while start < len(transactions):
            end, gas = start, 0
            while end < len(transactions) and gas + int(transactions[end]["gas"], 16) <= GAS_LIMIT:
                gas += int(transactions[end]["gas"], 16)
                end += 1
            hashes = self.rpc.batch([("eth_sendTransaction", [tx]) for tx in transactions[start:end]])
            self.rpc.call("evm_mine", [])
            self.blocks += 1
            failed = [r for r in self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes[-1:] + hashes[:1]]) if r is None or r["status"] != "0x1"]
            if failed:
                raise RuntimeError(f"bulk load: a transaction failed or was not mined: {failed[0]}")
            start = end

    def close(self) -> None:
        self.rpc.close()


def raw_fetch(net: BenchNetwork, max_block_range: int) -> tuple[int, float]:
    """Every log of the project contracts, fetched and JSON-parsed, nothing else (the floor any replay pays)."""
    ledger = net.ledger()
    contracts = ContractSet(ledger)
    reader = EventReader(ledger.w3, max_block_range)
    head = int(ledger.w3.eth.block_number)
    started = time.perf_counter()
    logs = reader.logs(list(contracts.addresses().values()), [], contracts.deployment_block, head)
    return len(logs), time.perf_counter() - started


def measure(net: BenchNetwork, max_block_range: int) -> dict[str, Any]:
    events, fetch_seconds = raw_fetch(net, max_block_range)
    result = run_audit(net.ledger(), AuditOptions(max_block_range=max_block_range))
    if result.violations:
        raise RuntimeError(f"the bench ledger should be clean, got {result.violations[:3]}")
    replay_seconds = result.timings["fetch"] + result.timings["replay"]
    return {
        "events": result.events_replayed,
        "raw_fetch_events": events,
        "raw_fetch_seconds": round(fetch_seconds, 3),
        "raw_fetch_events_per_second": round(events / fetch_seconds, 1),
        "replay_seconds": round(replay_seconds, 3),
        "replay_events_per_second": round(result.events_replayed / replay_seconds, 1),
        "replay_breakdown_seconds": {"fetch_decode_blocktimes": round(result.timings["fetch"], 3), "check_and_apply": round(result.timings["replay"], 3)},
        "replay_over_raw_fetch": round(replay_seconds / fetch_seconds, 2),
        "views_comparison_seconds": round(result.timings["views"], 3),
        "state_objects_compared": len(result.state.consents) + len(result.state.records) + len(result.state.members) + len(result.state.patients),
        "audit_total_seconds": round(result.timings["total"], 3),
        "digest": result.digest,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="ledger sizes in events, ascending (comma separated)")
    parser.add_argument("--max-block-range", type=int, default=25, help="blocks per eth_getLogs request (both paths)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    exit_cleanly_on_sigterm()
    results: list[dict[str, Any]] = []
    with throwaway_network() as net:
        providers = admit_providers(net)
        loader = Loader(net, providers)
        try:
            for size in sizes:
                patients = max(0, size // EVENTS_PER_PATIENT - loader.loaded)  # admissions add < 20 events
                log(f"loading {patients} patients ({patients * EVENTS_PER_PATIENT} events) ...")
                loader.grow(patients)
                log(f"loaded in {loader.seconds:.1f}s total; measuring at ~{size} events ...")
                results.append({"target_events": size, **measure(net, args.max_block_range)})
                log(json.dumps(results[-1]))
        finally:
            loader.close()
    summary = {
        "benchmark": "audit replay vs raw log fetch",
        "machine_note": "2-core shared machine; anvil, gateway and the replay share it",
        "event_mix": {"ConsentGranted": 0.2, "RecordAnchored": 0.4, "RecordsAccessed": 0.4},
        "max_block_range": args.max_block_range,
        "load_seconds": round(loader.seconds, 1),
        "blocks_loaded": loader.blocks,
        "sizes": results,
        "replay_per_event_growth": _growth(results),
    }
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


def _growth(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Linear growth check: seconds per event at the largest size over the smallest (1.0 = perfectly linear)."""
    if len(results) < 2:
        return None
    small, large = results[0], results[-1]
    per_event = lambda r: r["replay_seconds"] / r["events"]  # noqa: E731
    return {"from_events": small["events"], "to_events": large["events"], "per_event_time_ratio": round(per_event(large) / per_event(small), 2)}


if __name__ == "__main__":
    raise SystemExit(main())
