"""API overhead: uploads and reads (verify + decrypt + access log) through HTTP vs the record service called directly.

    python -m bench.api --json [--clients 4] [--ops-small 12] [--ops-large 3]

Starts a throwaway local network (temp dir, free ports), admits two providers, registers one patient per client
with consents to both.  For each
record size (1 KiB and 1 MiB of canonical FHIR JSON) and each mode, `--clients` threads run concurrently:
  direct: RecordService.put / .get in this process, for one provider
  api:    POST /v1/patients/{address}/records and GET /v1/records/{id} over HTTP (httpx, keep-alive) to
          `healthsilk api serve` running in its own process for an identical second provider
Every operation writes one transaction (anchor or access log), so both modes are bounded by the chain.
The modes alternate round by round (one operation per client each) so drifts in machine load hit both alike.
Reported: operations per second, p50 / p99 latency, and the API overhead at p50 (target <= 1.3x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from api.records import RecordClients, RecordService
from api.records.fhir import validate
from bench.network import BenchNetwork, bench_account, exit_cleanly_on_sigterm, free_port, throwaway_network
from crypto import HpkePrivateKey, Identity
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose

KiB, MiB = 1024, 1024 * 1024
TARGET_P50_OVERHEAD = 1.3
PASSWORD = "bench-only-password"


def sized_ecg(target: int, seed: int) -> dict[str, Any]:
    """An ECG Observation whose canonical JSON is just under `target` bytes (distinct content per seed)."""

    def build(samples: int) -> dict[str, Any]:
        data = " ".join(str(((k * 37 + seed * 13) % 400) - 200) for k in range(samples))
        return {
            "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6"}]},
            "effectiveDateTime": "2024-05-02T09:30:00Z", "note": [{"text": f"bench record {seed}"}],
            "valueSampledData": {"origin": {"value": 0}, "period": 4, "dimensions": 1, "data": data},
        }

    samples = max(1, target // 5)
    for _ in range(4):
        size = len(validate(build(samples), 64 * MiB)[2])
        samples = max(1, int(samples * target / size))
    while len(validate(build(samples), 64 * MiB)[2]) > target:
        samples -= 1 + (len(validate(build(samples), 64 * MiB)[2]) - target) // 5
    return build(samples)


def admit(net: BenchNetwork, label: str, name: str) -> Identity:
    ledger = net.ledger()
    hospital = Identity(account=bench_account(label), hpke_key=HpkePrivateKey.generate())
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=hospital.address, name=name, country="BJ", roles=["PROVIDER"], hpke_public_key=hospital.hpke_public_key.to_bytes())
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    return hospital


def consenting_patient(net: BenchNetwork, hospitals: list[str]) -> Identity:
    ledger = net.ledger()
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    consents, relayer, now = ConsentLedger(ledger), ledger.sender(net.governors[0]), int(time.time())
    register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600)
    consents.relay(relayer, register, register.sign(patient.account))
    for hospital in hospitals:
        terms = ConsentTerms(grantee=hospital, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400)
        grant = consents.grant_message(patient.address, terms, deadline=now + 600)
        consents.relay(relayer, grant, grant.sign(patient.account))
    return patient


def interleaved(clients: int, rounds: int, operations: dict[str, Callable[[int, int], None]]) -> dict[str, dict[str, Any]]:
    """Per round, each mode in turn runs one `operation(client, round)` in each of `clients` concurrent threads.

    Alternating modes round by round keeps slow drifts of a shared machine from favouring either mode.
    """
    latencies: dict[str, list[float]] = {mode: [] for mode in operations}
    walls: dict[str, float] = dict.fromkeys(operations, 0.0)
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for index in range(rounds):
            for mode, operation in operations.items():

                def one(client: int, mode: str = mode, operation: Callable[[int, int], None] = operation) -> None:
                    start = time.perf_counter()
                    operation(client, index)
                    elapsed = time.perf_counter() - start
                    with lock:
                        latencies[mode].append(elapsed)

                start = time.perf_counter()
                for future in [pool.submit(one, client) for client in range(clients)]:
                    future.result()
                walls[mode] += time.perf_counter() - start
    return {mode: _stats(latencies[mode], walls[mode]) for mode in operations}


def _stats(latencies: list[float], wall: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "ops": len(ordered), "ops_per_s": round(len(ordered) / wall, 2), "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] * 1000, 1),
    }


def serve(net: BenchNetwork, member: Identity, root: Path) -> tuple[str, str, Callable[[], None]]:
    """`healthsilk api serve` in its own process, as an institution runs it; returns (url, token, stop)."""
    from api.auth.store import AuthStore
    from api.settings import ApiSettings
    from crypto import KeyFile

    key = root / "member-key.json"
    KeyFile.from_identity(member, PASSWORD, scrypt_n=2**10).save(key)
    s = net.settings
    settings = ApiSettings(data_dir=root / "api").resolved()
    store = AuthStore(settings.token_db)
    token = store.create_token("bench", frozenset({"read", "write"}))
    store.close()
    port = free_port()
    env = {
        **os.environ, "HEALTHSILK_MEMBER_PASSWORD": PASSWORD, "HEALTHSILK_API_DATA_DIR": str(root / "api"), "HEALTHSILK_API_GATEWAY_URL": s.gateway_url,
        "HEALTHSILK_API_DEPLOYMENTS_FILE": str(s.deployments_file), "HEALTHSILK_IPFS_API": s.ipfs_url,
    }
    log = (root / "api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", "from api.cli import app; app()", "serve", "--member-key", str(key), "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return url, token, stop
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"the API did not become ready; see {root / 'api.log'}")
        time.sleep(0.2)


def run(clients: int, ops_small: int, ops_large: int) -> dict[str, Any]:
    with throwaway_network() as net, tempfile.TemporaryDirectory(prefix="healthsilk-bench-api-") as tmp:
        # Two identical providers: one behind the API (its own process), one called directly in this process.
        served = admit(net, "api-hospital-served", "Bench API Hospital")
        direct = admit(net, "api-hospital-direct", "Bench Direct Hospital")
        patients = [consenting_patient(net, [served.address, direct.address]) for _ in range(clients)]
        service = RecordService(direct, RecordClients.open(net.ledger(), net.settings.ipfs_url), Path(tmp) / "direct")
        url, token, stop = serve(net, served, Path(tmp))
        http = [httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) for _ in range(clients)]
        results: dict[str, Any] = {}
        seed = iter(range(10**9))
        try:
            for label, size, per_client in (("1KiB", KiB, ops_small), ("1MiB", MiB, ops_large)):
                bodies = {mode: [[sized_ecg(size, next(seed)) for _ in range(per_client + 1)] for _ in range(clients)] for mode in ("direct", "api")}
                record_ids: dict[str, list[list[str]]] = {"direct": [[] for _ in range(clients)], "api": [[] for _ in range(clients)]}

                def put_direct(client: int, index: int) -> None:
                    result = service.put(bodies["direct"][client][index], patients[client].address)
                    record_ids["direct"][client].append("0x" + result.record_id.hex())

                def put_api(client: int, index: int) -> None:
                    answer = http[client].post(f"/v1/patients/{patients[client].address}/records", json=bodies["api"][client][index])
                    answer.raise_for_status()
                    record_ids["api"][client].append(answer.json()[0]["record_id"])

                # reads cycle over the records uploaded (the warm-up's included)

                def get_direct(client: int, index: int) -> None:
                    ids = record_ids["direct"][client]
                    service.get(bytes.fromhex(ids[index % len(ids)][2:]), Purpose.TREATMENT)

                def get_api(client: int, index: int) -> None:
                    ids = record_ids["api"][client]
                    http[client].get(f"/v1/records/{ids[index % len(ids)]}", params={"purpose": "TREATMENT"}).raise_for_status()

                # warm-up: one op per client and mode (connections, caches, lazy imports), not reported
                interleaved(clients, 1, {"direct": lambda c, i: put_direct(c, per_client), "api": lambda c, i: put_api(c, per_client)})
                upload: dict[str, Any] = interleaved(clients, per_client, {"direct": put_direct, "api": put_api})
                interleaved(clients, 1, {"direct": get_direct, "api": get_api})
                read: dict[str, Any] = interleaved(clients, per_client, {"direct": get_direct, "api": get_api})
                for phase in (upload, read):
                    phase["overhead_p50"] = round(phase["api"]["p50_ms"] / phase["direct"]["p50_ms"], 3)
                results[label] = {"record_bytes": len(validate(bodies["api"][0][0], 64 * MiB)[2]), "upload": upload, "read": read}
        finally:
            for client in http:
                client.close()
            stop()
    worst = max(results[label][phase]["overhead_p50"] for label in results for phase in ("upload", "read"))
    return {
        "bench": "api", "clients": clients, "ops_per_client": {"1KiB": ops_small, "1MiB": ops_large}, "results": results,
        "worst_overhead_p50": worst, "target_overhead_p50": TARGET_P50_OVERHEAD, "target_met": worst <= TARGET_P50_OVERHEAD,
        "note": "each upload anchors and each read logs an access on chain (one transaction per operation, automine)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--ops-small", type=int, default=12, help="operations per client with 1 KiB records")
    parser.add_argument("--ops-large", type=int, default=3, help="operations per client with 1 MiB records")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    result = run(args.clients, args.ops_small, args.ops_large)
    if args.json:
        print(json.dumps(result))
    else:
        for label, phases in result["results"].items():
            for phase in ("upload", "read"):
                p = phases[phase]
                print(f"{label} {phase:6}  direct p50 {p['direct']['p50_ms']:7.1f} ms  api p50 {p['api']['p50_ms']:7.1f} ms  overhead {p['overhead_p50']:.2f}x  "
                      f"({p['direct']['ops_per_s']:.1f} vs {p['api']['ops_per_s']:.1f} ops/s)")
        print(f"worst p50 overhead {result['worst_overhead_p50']:.2f}x (target <= {TARGET_P50_OVERHEAD}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
