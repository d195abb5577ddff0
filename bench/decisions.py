"""Access decisions per second: the local ConsentIndex vs an eth_call of ConsentLedger.isPermitted.

    python -m bench.decisions --json

Starts a throwaway network, loads N consents (default 10,000), builds the index from events, then asks the
same queries of both paths and checks they agree. Prints one JSON object (with --json) or a short table.

Loading: to keep the run short, the grants are *direct* grants (`grantConsent`, sent by the patient itself)
submitted on the operator's private port with anvil's account impersonation and automine off, a few hundred
per block, in JSON-RPC batches. The ledger ends up exactly as if each patient had sent its own grant: the
same ConsentGranted events and storage. Everything measured afterwards (index build, decisions, eth_call,
sync) goes through the permissioning gateway, as a member institution's server would.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from bench.network import BenchNetwork, bench_account, exit_cleanly_on_sigterm, throwaway_network
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.consent_index import ConsentIndex
from ledger.registry import ConsortiumRegistry, MemberApplication

GRANT_SELECTOR = keccak(text="grantConsent(address,(address,uint16,uint8,uint40,uint40,uint40,uint40))")[:4]
REVOKE_SELECTOR = keccak(text="revokeConsent(address,address)")[:4]
IS_PERMITTED_SELECTOR = keccak(text="isPermitted(address,address,uint16,uint8)")[:4]
TXS_PER_BLOCK = 300  # a direct grant uses ~60-80k gas; 300 fit anvil's 30M block gas limit
RPC_BATCH = 100  # the gateway's batch limit
GRANT_GAS = 150_000
PROVIDERS = 2
DAY = 86_400


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Grant:
    patient: str
    grantee: str
    categories: int
    purposes: int
    valid_from: int
    valid_until: int


class OperatorRpc:
    """Raw JSON-RPC (single and batched) to one URL, failing loudly on any error."""

    def __init__(self, url: str, batch_size: int = 1000) -> None:
        self.url = url
        self.batch_size = batch_size
        self.client = httpx.Client(timeout=120)

    def call(self, method: str, params: list[Any]) -> Any:
        reply = self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(calls), self.batch_size):
            chunk = calls[start : start + self.batch_size]
            body = [{"jsonrpc": "2.0", "id": i, "method": method, "params": params} for i, (method, params) in enumerate(chunk)]
            replies = sorted(self.client.post(self.url, json=body).json(), key=lambda reply: reply["id"])
            if errors := [reply["error"] for reply in replies if "error" in reply]:
                raise RuntimeError(f"{len(errors)} of {len(chunk)} calls failed, e.g. {errors[0]}")
            results += [reply["result"] for reply in replies]
        return results

    def close(self) -> None:
        self.client.close()


def admit_providers(net: BenchNetwork) -> list[str]:
    """Two provider institutions admitted by a 2-of-3 governor vote, through the gateway."""
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(net.governors[0]), ledger.sender(net.governors[1])
    providers = []
    for index in range(PROVIDERS):
        account = bench_account(f"provider-{index}")
        application = MemberApplication(address=account.address, name=f"Bench Hospital {index}", country="BJ", roles=["PROVIDER"], hpke_public_key=b"\x01" * 33)
        registry.approve(approver, registry.propose_admission(proposer, application))
        providers.append(account.address)
    return providers


def plan_grants(count: int, grantees: list[str], now: int, rng: random.Random) -> list[Grant]:
    """One consent per patient: random categories and purposes; 90% in force now, 10% starting tomorrow."""
    grants = []
    for index in range(count):
        patient = to_checksum_address(keccak(text=f"healthsilk-bench/patient-{index}")[:20])
        future = rng.random() < 0.1
        grants.append(
            Grant(
                patient=patient,
                grantee=grantees[index % len(grantees)],
                categories=rng.randrange(1, 1 << 7),
                purposes=rng.randrange(1, 1 << 5),
                valid_from=now + DAY if future else now - DAY,
                valid_until=now + 2 * DAY if future else now + 365 * DAY,
            )
        )
    return grants


def load_consents(net: BenchNetwork, grants: list[Grant], revocations: list[Grant]) -> dict[str, Any]:
    """Direct grants (then revocations) by impersonated patients on the operator's private port, batched per block."""
    rpc = OperatorRpc(net.settings.anvil_url)
    target = net.ledger().deployments.address_of("ConsentLedger")
    started = time.perf_counter()
    patients = sorted({grant.patient for grant in grants})
    rpc.batch([("anvil_setBalance", [patient, hex(10**18)]) for patient in patients])
    rpc.call("anvil_autoImpersonateAccount", [True])
    rpc.call("evm_setAutomine", [False])
    blocks = 0
    try:
        def send(transactions: list[dict[str, str]]) -> None:
            nonlocal blocks
            for start in range(0, len(transactions), TXS_PER_BLOCK):
                rpc.batch([("eth_sendTransaction", [tx]) for tx in transactions[start : start + TXS_PER_BLOCK]])
                rpc.call("evm_mine", [])
                blocks += 1
                while int(rpc.call("txpool_status", [])["pending"], 16) > 0:  # leftovers past the gas limit
                    rpc.call("evm_mine", [])
                    blocks += 1
            # Success is checked once, from the outcome: the index must hold every grant and revocation.

        fees = {"gas": hex(GRANT_GAS), "maxFeePerGas": hex(20 * 10**9), "maxPriorityFeePerGas": hex(10**9)}
        send([{"from": g.patient, "to": target, "data": "0x" + (GRANT_SELECTOR + encode(["address", "(address,uint16,uint8,uint40,uint40,uint40,uint40)"], [g.patient, (g.grantee, g.categories, g.purposes, g.valid_from, g.valid_until, 0, 0)])).hex(), **fees} for g in grants])
        send([{"from": g.patient, "to": target, "data": "0x" + (REVOKE_SELECTOR + encode(["address", "address"], [g.patient, g.grantee])).hex(), **fees} for g in revocations])
    finally:
        rpc.call("evm_setAutomine", [True])
        rpc.call("anvil_autoImpersonateAccount", [False])
        rpc.close()
    return {"seconds": round(time.perf_counter() - started, 2), "blocks": blocks, "grants": len(grants), "revocations": len(revocations)}


def plan_queries(count: int, grants: list[Grant], grantees: list[str], rng: random.Random) -> list[tuple[str, str, int, int]]:
    """70% the patient's own grantee, 20% another member, 10% a patient with no consent; one category, one purpose."""
    queries = []
    for index in range(count):
        grant = rng.choice(grants)
        roll = rng.random()
        patient = grant.patient if roll < 0.9 else to_checksum_address(keccak(text=f"healthsilk-bench/stranger-{index}")[:20])
        grantee = grant.grantee if roll < 0.7 else rng.choice(grantees)
        queries.append((patient, grantee, 1 << rng.randrange(7), 1 << rng.randrange(5)))
    return queries


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def time_boxed(ask: Callable[[list[Any]], list[bool]], queries: list[Any], step: int, seconds: float) -> list[bool]:
    """Answers for a prefix of `queries`, asked `step` at a time until they run out or `seconds` pass."""
    answers: list[bool] = []
    deadline = time.perf_counter() + seconds
    for start in range(0, len(queries), step):
        answers += ask(queries[start : start + step])
        if time.perf_counter() > deadline:
            break
    return answers


def eth_call_batched(url: str, target: str, queries: list[tuple[str, str, int, int]]) -> list[bool]:
    """isPermitted for every query by eth_call, in JSON-RPC batches of RPC_BATCH (the gateway's limit)."""
    rpc = OperatorRpc(url, batch_size=RPC_BATCH)
    try:
        calls = [("eth_call", [{"to": target, "data": "0x" + (IS_PERMITTED_SELECTOR + encode(["address", "address", "uint16", "uint8"], list(q))).hex()}, "latest"]) for q in queries]
        return [bool(decode(["bool"], bytes.fromhex(result[2:]))[0]) for result in rpc.batch(calls)]
    finally:
        rpc.close()


def measure_sync(net: BenchNetwork, index: ConsentIndex, follower: ConsentIndex, grantee: str, repetitions: int) -> dict[str, Any]:
    """A patient-signed grant relayed through the gateway; then (a) an explicit sync() of that one block,
    (b) the time from the relayer holding its receipt until the follower thread has applied the block
    (bounded by the 0.2 s poll; the block may be mined up to the receipt poll interval before the receipt)."""
    ledger = net.ledger()
    consents = ConsentLedger(ledger)
    relayer = ledger.sender(net.governors[0])
    sync_ms: list[float] = []
    visible_ms: list[float] = []
    for repetition in range(repetitions):
        patient = bench_account(f"sync-patient-{repetition}")
        now = int(ledger.w3.eth.get_block("latest")["timestamp"])
        terms = ConsentTerms(grantee=grantee, categories=1, purposes=1, valid_from=now - 60, valid_until=now + DAY)
        message = consents.grant_message(patient.address, terms, deadline=now + 600, nonce=0)
        consents.relay(relayer, message, message.sign(patient))
        mined = time.perf_counter()
        block = ledger.w3.eth.block_number
        while follower.synced_block < block:
            if time.perf_counter() - mined > 10:
                raise RuntimeError(f"the follower did not apply block {block} within 10 s: {follower.follower_error}")
            time.sleep(0.001)
        visible_ms.append((time.perf_counter() - mined) * 1000)
        # Then, with the follower idle again, the cost of one explicit sync() of that block on another index.
        result, seconds = timed(index.sync)
        if result.to_block < block or result.events < 1 or not index.decide(patient.address, grantee, 1, 1).permitted:
            raise RuntimeError(f"sync of block {block} did not apply the new grant: {result}")
        sync_ms.append(seconds * 1000)
    return {
        "repetitions": repetitions,
        "sync_one_block_ms": {"median": round(statistics.median(sync_ms), 2), "max": round(max(sync_ms), 2)},
        "follower_visible_after_receipt_ms": {"median": round(statistics.median(visible_ms), 1), "max": round(max(visible_ms), 1), "poll_interval_ms": 200},
    }


def run(consent_count: int, index_queries: int, eth_call_queries: int, eth_call_seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    report: dict[str, Any] = {"benchmark": "access decisions: local ConsentIndex vs eth_call isPermitted", "consents": consent_count}
    started = time.perf_counter()
    with throwaway_network() as net:
        report["network_up_seconds"] = round(time.perf_counter() - started, 1)
        grantees = [account.address for account in net.governors] + admit_providers(net)
        now = int(net.w3.eth.get_block("latest")["timestamp"])
        grants = plan_grants(consent_count, grantees, now, rng)
        revocations = rng.sample(grants, consent_count // 20)
        log(f"loading {consent_count} consents and {len(revocations)} revocations ...")
        report["load"] = {"method": "direct grantConsent/revokeConsent by impersonated patients on the operator's private port, automine off, batched", **load_consents(net, grants, revocations)}

        ledger = net.ledger()  # through the gateway from here on
        log("building the index from events ...")
        index, build_seconds = timed(lambda: ConsentIndex.open(ledger))
        if index.consent_count() != consent_count:
            raise RuntimeError(f"index holds {index.consent_count()} consents, expected {consent_count}")
        report["index_build"] = {"seconds": round(build_seconds, 2), "events_replayed_through_block": index.synced_block, "get_logs_requests": index.reader.requests, "max_block_range": index.reader.max_block_range}

        queries = plan_queries(index_queries, grants, grantees, rng)
        follower = ConsentIndex.open(ledger)
        follower.start_following()
        try:
            log(f"{index_queries} decisions from the index ...")
            decide = index.decide
            plain, plain_seconds = timed(lambda: [decide(*q) for q in queries])
            followed_decide = follower.decide
            _, followed_seconds = timed(lambda: [followed_decide(*q) for q in queries])
            permitted = sum(decision.permitted for decision in plain)

            log(f"eth_calls of isPermitted through the gateway (up to {eth_call_queries}, or {eth_call_seconds:.0f} s per path) ...")
            wrapper = ConsentLedger(ledger)
            chain_answers, call_seconds = timed(lambda: time_boxed(lambda q: [wrapper.is_permitted(*q[0])], queries[:eth_call_queries], 1, eth_call_seconds))
            batched_answers, batched_seconds = timed(lambda: time_boxed(lambda q: eth_call_batched(net.settings.gateway_url, wrapper.contract.address, q), queries, RPC_BATCH, eth_call_seconds))
            node_wrapper = ConsentLedger(net.ledger(operator=True))
            node_answers, node_seconds = timed(lambda: time_boxed(lambda q: [node_wrapper.is_permitted(*q[0])], queries[:eth_call_queries], 1, eth_call_seconds))
            mismatches = sum(decision.permitted != answer for decision, answer in zip(plain, node_answers))
            mismatches += sum(decision.permitted != answer for decision, answer in zip(plain, chain_answers))
            mismatches += sum(decision.permitted != answer for decision, answer in zip(plain, batched_answers))

            report["index"] = {"decisions": index_queries, "per_second": rate(index_queries, plain_seconds), "per_second_with_follower": rate(index_queries, followed_seconds), "permitted_share": round(permitted / index_queries, 3)}
            report["eth_call"] = {
                "decisions": len(chain_answers),
                "per_second": rate(len(chain_answers), call_seconds),
                "path": "ConsentLedger.is_permitted (web3 eth_call, one per decision) through the gateway",
                "batched_decisions": len(batched_answers),
                "batched_per_second": rate(len(batched_answers), batched_seconds),
                "batched_path": f"raw JSON-RPC batches of {RPC_BATCH} eth_calls through the gateway",
            }
            report["eth_call_node_direct"] = {
                "decisions": len(node_answers),
                "per_second": rate(len(node_answers), node_seconds),
                "path": "ConsentLedger.is_permitted straight to the node's private port (no gateway): the fastest eth_call here",
            }
            report["agreement"] = {"compared": len(chain_answers) + len(batched_answers) + len(node_answers), "mismatches": mismatches}
            report["ratio_index_vs_eth_call"] = round(report["index"]["per_second"] / report["eth_call"]["per_second"], 1)
            report["ratio_index_vs_batched_eth_call"] = round(report["index"]["per_second"] / report["eth_call"]["batched_per_second"], 1)
            report["ratio_index_vs_node_direct_eth_call"] = round(report["index"]["per_second"] / report["eth_call_node_direct"]["per_second"], 1)

            log("sync latency for one new block ...")
            report["sync"] = measure_sync(net, index, follower, grantees[0], repetitions=10)
        finally:
            follower.stop_following()
    report["targets"] = {
        "index_at_least_20000_per_second": report["index"]["per_second"] >= 20_000,
        "index_at_least_10x_eth_call": report["ratio_index_vs_eth_call"] >= 10,
        "index_at_least_10x_even_batched_or_direct_eth_call": min(report["ratio_index_vs_batched_eth_call"], report["ratio_index_vs_node_direct_eth_call"]) >= 10,
        "no_mismatches": report["agreement"]["mismatches"] == 0,
    }
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--consents", type=int, default=10_000)
    parser.add_argument("--index-queries", type=int, default=200_000)
    parser.add_argument("--eth-call-queries", type=int, default=2_000, help="at most this many one-by-one eth_calls")
    parser.add_argument("--eth-call-seconds", type=float, default=15.0, help="time box per eth_call path (busy machines)")
    parser.add_argument("--seed", type=int, default=7331)
    args = parser.parse_args(argv)
    if args.consents < 100 or args.index_queries < 1000 or args.eth_call_queries < 100:
        parser.error("use at least 100 consents, 1000 index queries and 100 eth_call queries")
    exit_cleanly_on_sigterm()
    report = run(args.consents, args.index_queries, args.eth_call_queries, args.eth_call_seconds, args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")
    return 0 if all(report["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
