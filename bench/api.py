"""Reads and writes at hospital scale through one institution's API: throughput, latency, gas per log entry.

    python -m bench.api --json [--seconds 8] [--readers 1,10,50] [--writers 1,8] [--engine geth|anvil] [--client aiohttp|httpx]

Starts a throwaway sandbox network (geth `--dev.period 0` by default, as `network up` runs; or anvil, automine),
admits a provider, registers one consenting patient per reader, anchors two 1 KiB ECG records per patient and
starts `healthsilk api serve` for that provider in its own process. Every reader (an asyncio task with its own
keep-alive connection) reads its patient's records in turn, `GET /v1/records/{id}`, for `--seconds` per phase; with
`_writer_1`, one writer uploads 1 KiB records alongside (`POST /v1/patients/{a}/records`). Each read is released only
after its access is logged on chain, in the API's group-commit batches. Reported per phase: reads/s, p50 / p99
latency, errors, the writer's puts/s.

Writes: `writers_N` has N concurrent writers uploading 1 KiB ECG records (each answered 201 only after the receipt of
the transaction that anchored it); reported: puts/s, p50 / p99, errors, and from the chain how the puts were
anchored (transactions, `anchorBatch` batches and their records, records anchored on their own). The records the
read phases use are anchored on their own (the setup anchors them with batching off): the contract's group-committed
access log (`logAccessBatch`) takes only such records. `batched_reads_10` shows what reading batch-anchored records
costs today (one `batchedRecordAccessed` transaction per read).

The load comes from `--client aiohttp` (default) or `--client httpx`: the client is not the system under test, and
on a 2-core box its CPU is taken from the stack's (httpx measured ~1.2 ms of CPU per read, aiohttp less); the JSON
names the client.

Per phase also `cpu_load` (os.getloadavg: 1, 5, 15 min) and `cpu_ms_per_op`: CPU milliseconds each process of the
stack (bench client, API, gateway, chain node, IPFS) spent per read or put (Linux /proc). The box is shared: read
throughput next to the load, and compare variants by their CPU per operation, which other load hardly moves.

Also: gas per access-log entry (`logAccessBatch` with 100 entries of one patient, with one entry, and the single
`recordAccessed`) next to the floor any per-entry on-chain check must pay (bench/gas.py), the batches the API
actually sent, and the completeness check: every successful read appears in the on-chain access log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from eth_account import Account

from bench.gas import access_log_floor
from bench.network import (
    BenchNetwork,
    bench_account,
    exit_cleanly_on_sigterm,
    free_port,
    throwaway_network,
)
from crypto import HpkePrivateKey, Identity
from i18n import _
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.records import RecordRegistry, pack_access_entries
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from records import RecordClients, RecordService
from records.fhir import validate

KiB = 1024
PASSWORD = "bench-only-password"
RECORDS_PER_PATIENT = 2
GOALS = {
    "readers_50.reads_per_s": 300.0, "readers_50.p99_ms": 1000.0, "readers_50_writer_1.writer.puts_per_s": 5.0, "writers_8.puts_per_s": 50.0,
}
NOTE_DIGITS = 12  # writers vary an ECG template's note by a zero-padded counter: every body has the same size


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
    for _attempt in range(4):
        size = len(validate(build(samples), 64 * KiB * KiB)[2])
        samples = max(1, int(samples * target / size))
    while len(validate(build(samples), 64 * KiB * KiB)[2]) > target:
        samples -= 1 + (len(validate(build(samples), 64 * KiB * KiB)[2]) - target) // 5
    return build(samples)


def admit(net: BenchNetwork, label: str, name: str) -> Identity:
    ledger = net.ledger()
    hospital = Identity(account=bench_account(label), hpke_key=HpkePrivateKey.generate())
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=hospital.address, name=name, country="BJ", roles=["PROVIDER"], hpke_public_key=hospital.hpke_public_key.to_bytes())
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    return hospital


def consenting_patients(net: BenchNetwork, hospital: str, count: int) -> list[Identity]:
    """`count` registered patients, each consenting to `hospital` (ECG, TREATMENT); relayed in one pipelined run."""
    ledger = net.ledger()
    consents, relayer = ConsentLedger(ledger), ledger.sender(net.governors[0])
    now = int(ledger.w3.eth.get_block("latest")["timestamp"])
    patients = [Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate()) for _ in range(count)]
    calls = []
    for patient in patients:
        register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600, nonce=0)
        m = register.message
        calls.append(consents.contract.functions.registerPatientBySig(m["patient"], m["hpkePublicKey"], 0, m["deadline"], register.sign(patient.account)))
        terms = ConsentTerms(grantee=hospital, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400)
        grant = consents.grant_message(patient.address, terms, deadline=now + 600, nonce=1)
        m = grant.message
        t = (m["grantee"], m["categories"], m["purposes"], m["validFrom"], m["validUntil"], m["dataFrom"], m["dataUntil"])
        calls.append(consents.contract.functions.grantConsentBySig(m["patient"], t, 1, m["deadline"], grant.sign(patient.account)))
    relayer.transact_many(calls)
    return patients


def upload_records(net: BenchNetwork, hospital: Identity, patients: list[Identity], root: Path) -> list[list[str]]:
    """RECORDS_PER_PATIENT records per patient, anchored by `hospital` in this process (before its API sends anything,
    so the two senders of its key never overlap); record ids per patient."""
    clients = RecordClients.open(net.ledger(), net.settings.ipfs_url, ipfs_secret=net.settings.ipfs_api_secret)
    # Batching off: the read phases measure the access log's group commit, which takes records anchored on their own.
    service = RecordService(hospital, clients, root / "direct", put_max_batch=1)
    jobs = [(p, k) for p in range(len(patients)) for k in range(RECORDS_PER_PATIENT)]
    bodies = {job: sized_ecg(KiB, 1000 * job[0] + job[1]) for job in jobs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(zip(jobs, pool.map(lambda job: service.put(bodies[job], patients[job[0]].address), jobs), strict=True))
    service.close()
    return [["0x" + results[(p, k)].record_id.hex() for k in range(RECORDS_PER_PATIENT)] for p in range(len(patients))]


def serve(net: BenchNetwork, member: Identity, root: Path) -> tuple[str, str, Callable[[], None], int]:
    """`healthsilk api serve` in its own process, as an institution runs it; returns (url, token, stop, its pid)."""
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
        "HEALTHSILK_IPFS_API_SECRET_FILE": str(s.ipfs_api_secret_file),
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
                return url, token, stop, process.pid
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"the API did not become ready; see {root / 'api.log'}")
        time.sleep(0.2)


def _server_timing(header: str) -> dict[str, float]:
    """`Server-Timing: stage;dur=ms, ...` as {stage: ms}."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name and duration:
            out[name] = float(duration)
    return out


class CpuMeter:
    """CPU time (user + system, Linux /proc) each process of the stack spends: per read or put it is a cost that
    the box's other load hardly moves, unlike throughput on a shared machine."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[name] = (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return out

    def per_op(self, before: dict[str, float], ops: int) -> dict[str, float]:
        """CPU ms per operation and process since `before`."""
        after = self.read()
        spent = {name: after[name] - before[name] for name in after if name in before}
        return {name: round(seconds * 1000 / max(1, ops), 2) for name, seconds in spent.items()} | {"total": round(sum(spent.values()) * 1000 / max(1, ops), 2)}


def _cpu_load() -> list[float]:
    """The 1, 5 and 15 minute load averages (os.getloadavg): above the core count, other work shared the CPUs."""
    return [round(value, 2) for value in os.getloadavg()]


def _latency_stats(latencies: list[float], wall: float, unit: str) -> dict[str, Any]:
    ordered = sorted(latencies)
    if not ordered:
        return {unit: 0, f"{unit}_per_s": 0.0, "p50_ms": None, "p99_ms": None}
    return {
        unit: len(ordered), f"{unit}_per_s": round(len(ordered) / wall, 1), "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] * 1000, 1),
    }


class Answer:
    """What a phase reads of an HTTP answer, whichever client fetched it."""

    def __init__(self, status_code: int, headers: Any, body: bytes) -> None:
        self.status_code, self.headers, self.body = status_code, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:300]}")


class AiohttpClient:
    """One keep-alive connection per reader or writer, as the httpx client gives, at less CPU per request."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    async def __aenter__(self) -> AiohttpClient:
        self.session = aiohttp.ClientSession(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.session.close()

    async def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        async with self.session.get(path, params=params) as answer:
            return Answer(answer.status, answer.headers, await answer.read())

    async def post(self, path: str, json: Any = None) -> Answer:
        async with self.session.post(path, json=json) as answer:
            return Answer(answer.status, answer.headers, await answer.read())


CLIENT_ERRORS = (httpx.HTTPError, aiohttp.ClientError, asyncio.TimeoutError)


class Load:
    """Readers and writers against the served API, as asyncio tasks sharing one event loop."""

    def __init__(self, url: str, token: str, patients: list[Identity], records: list[list[str]], client: str = "aiohttp") -> None:
        self.url, self.token, self.patients, self.records = url, token, patients, records
        self.client_name = client
        self.reads_ok = 0  # every successful read, warm-up included (the access-log completeness check)
        self.seed = 10**6
        self.template = sized_ecg(KiB - NOTE_DIGITS, 0)  # "bench record 0" + padding digits: just under 1 KiB
        self.written: list[dict[str, Any]] = []  # every 201 of the writer phases (record id, transaction)
        self.cpu: CpuMeter | None = None
        self._tls: ssl.SSLContext | None = None

    def body(self) -> dict[str, Any]:
        """A fresh 1 KiB record (distinct content, same size), without re-validating a new body per put."""
        self.seed += 1
        body = json.loads(json.dumps(self.template))
        body["note"][0]["text"] = f"bench record {self.seed:0{NOTE_DIGITS}d}"
        return body

    def client(self) -> Any:
        """An async HTTP client for one reader or writer (`async with`): aiohttp, or httpx."""
        if self.client_name == "aiohttp":
            return AiohttpClient(self.url, self.token)
        # One TLS context for all: httpx builds one per client otherwise (~27 ms of CPU loading the CA bundle), and
        # 50 readers starting a phase on a busy box spent seconds of the phase on that, not on reading.
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120, verify=self._tls)

    async def phase(self, readers: int, seconds: float, writer: bool) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stop = loop.time() + seconds
        reads: list[float] = []
        puts: list[float] = []
        errors = {"reads": 0, "puts": 0}
        samples: list[str] = []
        stages: list[dict[str, float]] = []

        async def read_loop(k: int) -> None:
            ids = self.records[k % len(self.records)]
            async with self.client() as http:
                i = 0
                while loop.time() < stop:
                    start = time.perf_counter()
                    try:
                        answer = await http.get(f"/v1/records/{ids[i % len(ids)]}", params={"purpose": "TREATMENT"})
                        ok = answer.status_code == 200
                    except CLIENT_ERRORS as exc:
                        ok, answer = False, exc  # type: ignore[assignment]
                    i += 1
                    if ok:
                        reads.append(time.perf_counter() - start)
                        stages.append(_server_timing(answer.headers.get("server-timing", "")))
                    else:
                        errors["reads"] += 1
                        if len(samples) < 3:
                            samples.append(str(getattr(answer, "text", answer))[:300])

        put_stages: list[dict[str, float]] = []
        cpu_before = self.cpu.read() if self.cpu else {}
        started = time.perf_counter()
        await asyncio.gather(*(read_loop(k) for k in range(readers)), *([self.write_loop(0, stop, puts, errors, samples, put_stages)] if writer else []))
        wall = time.perf_counter() - started
        self.reads_ok += len(reads)
        out = _latency_stats(reads, wall, "reads") | {"errors": errors["reads"], "cpu_load": _cpu_load()}
        if self.cpu:
            out["cpu_ms_per_op"] = self.cpu.per_op(cpu_before, len(reads) + len(puts))  # reads and puts alike
        names = sorted({name for stage in stages for name in stage})
        out["server_timing_p50_ms"] = {name: round(statistics.median(stage.get(name, 0.0) for stage in stages), 1) for name in names}
        if samples:
            out["error_samples"] = samples
        if writer:
            out["writer"] = _latency_stats(puts, wall, "puts") | {"errors": errors["puts"]}
            put_names = sorted({name for stage in put_stages for name in stage})
            out["writer"]["server_timing_p50_ms"] = {name: round(statistics.median(stage.get(name, 0.0) for stage in put_stages), 1) for name in put_names}
        return out

    async def write_loop(self, k: int, stop: float, puts: list[float], errors: dict[str, int], samples: list[str], stages: list[dict[str, float]] | None = None) -> None:
        """One writer: 1 KiB ECG records for its patient, back to back, until `stop` (event-loop time)."""
        loop = asyncio.get_running_loop()
        patient = self.patients[k % len(self.patients)].address
        async with self.client() as http:
            while loop.time() < stop:
                body = self.body()
                start = time.perf_counter()
                try:
                    answer = await http.post(f"/v1/patients/{patient}/records", json=body)
                    ok = answer.status_code == 201
                except CLIENT_ERRORS as exc:
                    ok, answer = False, exc  # type: ignore[assignment]
                if ok:
                    puts.append(time.perf_counter() - start)
                    self.written.append(answer.json()[0])
                    if stages is not None:
                        stages.append(_server_timing(answer.headers.get("server-timing", "")))
                else:
                    errors["puts"] += 1
                    if len(samples) < 3:
                        samples.append(str(getattr(answer, "text", answer))[:300])

    async def write_phase(self, writers: int, seconds: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        stop = loop.time() + seconds
        puts: list[float] = []
        errors = {"puts": 0}
        samples: list[str] = []
        stages: list[dict[str, float]] = []
        cpu_before = self.cpu.read() if self.cpu else {}
        started = time.perf_counter()
        await asyncio.gather(*(self.write_loop(k, stop, puts, errors, samples, stages) for k in range(writers)))
        out = _latency_stats(puts, time.perf_counter() - started, "puts") | {"errors": errors["puts"], "cpu_load": _cpu_load()}
        if self.cpu:
            out["cpu_ms_per_op"] = self.cpu.per_op(cpu_before, len(puts))
        names = sorted({name for stage in stages for name in stage})
        out["server_timing_p50_ms"] = {name: round(statistics.median(stage.get(name, 0.0) for stage in stages), 1) for name in names}
        if samples:
            out["error_samples"] = samples
        return out

    async def warm_up(self) -> None:
        """Each record read once (the API's anchor and object caches fill; these reads are logged too)."""
        async with self.client() as http:
            for ids in self.records:
                answers = await asyncio.gather(*(http.get(f"/v1/records/{rid}") for rid in ids))
                for answer in answers:
                    answer.raise_for_status()
                    self.reads_ok += 1


def access_log_check(ledger: Ledger, reader: str, reads_ok: int) -> dict[str, Any]:
    """Every successful read is in the on-chain access log; and what the API's group commit sent."""
    events = ledger.events("RecordRegistry", "RecordsAccessed", reader=reader)
    per_tx: dict[bytes, int] = {}
    for event in events:
        per_tx[event.transaction_hash] = per_tx.get(event.transaction_hash, 0) + len(event.args["recordIds"])
    entries = sum(per_tx.values())
    sizes = sorted(per_tx.values())
    sample = list(per_tx)[-200:]  # the latest batches (the busiest phases)
    gas = [int(ledger.w3.eth.get_transaction_receipt(tx)["gasUsed"]) for tx in sample]
    return {
        "reads_ok": reads_ok, "entries_on_chain": entries, "complete": entries == reads_ok,
        "batches": {
            "transactions": len(per_tx), "mean_entries": round(entries / max(1, len(per_tx)), 1), "max_entries": sizes[-1] if sizes else 0,
            "gas_per_entry_mean_latest_200": round(sum(gas) / max(1, sum(per_tx[tx] for tx in sample))),
        },
    }


def anchoring(ledger: Ledger, author: str, from_block: int, to_block: int) -> dict[str, Any]:
    """How the puts of a phase reached the chain: anchor transactions, batches and their records, single anchors."""
    records = RecordRegistry(ledger)
    singles = [a for a in ledger.events("RecordRegistry", "RecordAnchored", author=author) if from_block <= a.block_number <= to_block]
    batches = records.batches(from_block=from_block, to_block=to_block, author=author)
    batched = sum(b.count for b in batches)
    gas = [int(ledger.w3.eth.get_transaction_receipt(b.transaction_hash)["gasUsed"]) for b in batches[-50:]]
    return {
        "transactions": len(singles) + len(batches), "batches": len(batches), "batched_records": batched, "single_records": len(singles),
        "mean_batch": round(batched / max(1, len(batches)), 1), "gas_per_batched_record": round(sum(gas) / max(1, sum(b.count for b in batches[-50:]))),
    }


async def batched_reads(load: Load, readers: int, seconds: float) -> dict[str, Any]:
    """Reads of records the writer phases anchored in batches (one batchedRecordAccessed transaction per read)."""
    ids = [w["record_id"] for w in load.written if w.get("batched")]
    if not ids:
        return {"reads": 0, "note": "no batch-anchored record was written"}
    saved = load.records
    load.records = [ids[k::readers] for k in range(readers) if ids[k::readers]]
    try:
        return await load.phase(len(load.records), seconds, writer=False)
    finally:
        load.records = saved


def gas_per_log_entry(net: BenchNetwork) -> dict[str, Any]:
    """logAccessBatch with 100 entries of one patient and with one entry, recordAccessed, and the floor."""
    ledger = net.ledger()
    provider = admit(net, "api-gas-provider", "Bench Gas Hospital")
    (patient,) = consenting_patients(net, provider.address, 1)
    sender = ledger.sender(provider.account)
    records = RecordRegistry(ledger)
    fns = records.contract.functions
    ids = [os.urandom(32) for _ in range(100)]
    sender.transact_many([fns.anchorRecord((r, patient.address, int(Category.ECG), os.urandom(32), b"\x01\x55\x12\x20" + os.urandom(32), b"\x00" * 32)) for r in ids])
    entries = [(r, Purpose.TREATMENT) for r in ids]
    batch = records.log_access_batch(sender, entries)
    assert all(batch.logged), "the gas batch was refused"
    single = records.log_access_batch(sender, entries[:1])
    recorded = sender.transact(fns.recordAccessed(ids[0], int(Purpose.TREATMENT)))
    floor = access_log_floor(pack_access_entries(entries[:1]), 100)
    return {
        "batch_100": round(batch.gas_used / 100), "batch_single": single.gas_used, "single_recordAccessed": int(recorded["gasUsed"]),
        "floor_batch_100": floor["total"], "floor_parts": floor, "before_issue_11": {"batch_100": 4_007, "single": 41_095},
    }


def _goal(result: dict[str, Any], path: str) -> Any:
    value: Any = result
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def run(reader_counts: list[int], seconds: float, writer_counts: list[int] | None = None, engine: str = "geth", client: str = "aiohttp") -> dict[str, Any]:
    writer_counts = [1, 8] if writer_counts is None else writer_counts
    with throwaway_network(engine=engine) as net, tempfile.TemporaryDirectory(prefix="healthsilk-bench-api-") as tmp:  # type: ignore[arg-type]
        root = Path(tmp)
        hospital = admit(net, "api-hospital-served", "Bench API Hospital")
        patients = consenting_patients(net, hospital.address, max(reader_counts))
        records = upload_records(net, hospital, patients, root)
        url, token, stop, api_pid = serve(net, hospital, root)
        load = Load(url, token, patients, records, client)
        nodes = net.network
        load.cpu = CpuMeter({"bench": os.getpid(), "api": api_pid, "gateway": nodes.gateway.pid(), "chain": nodes.chain.pid(), "ipfs": nodes.ipfs.pid()})
        result: dict[str, Any] = {
            "bench": "api", "network": f"{engine} sandbox ({'--dev.period 0' if engine == 'geth' else 'automine'}), one API process", "record_bytes": KiB,
            "seconds_per_phase": seconds, "client": client,
            "machine": {"cpus": os.cpu_count(), "load_average_1m_at_start": os.getloadavg()[0]},  # the box is shared: read figures with it
            "cpu_load": {"start": _cpu_load()},
        }
        try:
            asyncio.run(load.warm_up())
            for readers in reader_counts:
                result[f"readers_{readers}"] = asyncio.run(load.phase(readers, seconds, writer=False))
            for readers in reader_counts:
                result[f"readers_{readers}_writer_1"] = asyncio.run(load.phase(readers, seconds, writer=True))
            ledger = net.ledger()
            for writers in writer_counts:
                first = ledger.w3.eth.block_number + 1
                result[f"writers_{writers}"] = asyncio.run(load.write_phase(writers, seconds))
                result[f"writers_{writers}"]["anchoring"] = anchoring(ledger, hospital.address, first, ledger.w3.eth.block_number)
            batch_txs = {b.transaction_hash for b in RecordRegistry(ledger).batches(author=hospital.address)}
            for written in load.written:
                written["batched"] = written["transaction_hash"] in batch_txs
            result["batched_reads_10"] = asyncio.run(batched_reads(load, 10, seconds))
        finally:
            stop()
        result["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
        result["cpu_load"]["end"] = _cpu_load()
        result["access_log"] = access_log_check(net.ledger(), hospital.address, load.reads_ok)
        result["gas_per_log_entry"] = gas_per_log_entry(net)
    phases = [v for k, v in result.items() if k.startswith(("readers_", "writers_", "batched_reads_"))]
    result["errors"] = sum(v.get("errors", 0) + v.get("writer", {}).get("errors", 0) for v in phases)
    result["goals"] = {path: {"goal": goal, "measured": _goal(result, path)} for path, goal in GOALS.items()}
    for path, entry in result["goals"].items():
        measured = entry["measured"]
        entry["met"] = measured is not None and (measured < entry["goal"] if path.endswith("p99_ms") else measured >= entry["goal"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load phase")
    parser.add_argument("--readers", default="1,10,50", help="concurrent readers per phase, comma-separated")
    parser.add_argument("--writers", default="1,8", help="concurrent writers per write phase, comma-separated")
    parser.add_argument("--engine", default="geth", choices=["geth", "anvil"], help="the chain node (geth: as `network up` runs it)")
    parser.add_argument("--client", default="aiohttp", choices=["aiohttp", "httpx"], help="the load's HTTP client (not the system under test)")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    result = run(sorted({int(n) for n in args.readers.split(",")}), args.seconds, sorted({int(n) for n in args.writers.split(",") if n}), args.engine, args.client)
    if args.json:
        print(json.dumps(result))
    else:
        for key, phase in result.items():
            if key.startswith("readers_"):
                line = f"{key:22} {phase['reads_per_s']:8.1f} reads/s  p50 {phase['p50_ms']} ms  p99 {phase['p99_ms']} ms  errors {phase['errors']}"
                if "writer" in phase:
                    w = phase["writer"]
                    line += f"   writer {w['puts_per_s']} puts/s p50 {w['p50_ms']} ms"
                print(line)
            elif key.startswith("writers_"):
                print(f"{key:22} {phase['puts_per_s']:8.1f} puts/s   p50 {phase['p50_ms']} ms  p99 {phase['p99_ms']} ms  errors {phase['errors']}  {phase['anchoring']}")
        print(f"access log complete: {result['access_log']['complete']} ({result['access_log']['entries_on_chain']} entries, {result['access_log']['reads_ok']} reads)")
        print(f"gas per log entry: {result['gas_per_log_entry']}")
        print(_("cpu load (1/5/15 min): {load} on {cpus} CPUs").format(load=result["cpu_load"], cpus=result["machine"]["cpus"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
