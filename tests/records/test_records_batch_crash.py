"""An institution's process killed (SIGKILL) after its `anchorBatch` was sent and before the receipt was read: the
puts it was answering never got their answer. Retried with the same bodies by a restarted record service (same key,
same data dir), every put finishes as already anchored (created=False) from the batch the chain holds: no record is
anchored twice, nothing stays spooled or journalled, and the batch's manifest stays pinned (the auditor needs it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from eth_account import Account

from records import RecordClients, RecordService
from records.cid import cid_to_text
from crypto import HpkePrivateKey, Identity, KeyFile
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.records import RecordRegistry
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member

PASSWORD = "batch-crash-test"
PUTS = 6


def lab(k: int) -> dict[str, object]:
    """The same bodies as the worker's (the retry must be the same put)."""
    return {
        "resourceType": "Observation", "status": "final", "id": f"batch-crash-{k}",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": k, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }


# The institution's process: the first put goes alone and is held before its receipt, so the others queue and go
# as one batch; once that batch's transaction is sent the process says so, and waits to be killed.
WORKER = r"""
import json, sys, threading, time
from pathlib import Path
from records import RecordClients, RecordService
from crypto import KeyFile
from ledger.chain import Ledger

def lab(k):
    return {
        "resourceType": "Observation", "status": "final", "id": f"batch-crash-{k}",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": k, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }

args = json.loads(sys.argv[1])
identity = KeyFile.read(args["key_file"]).unlock(args["password"])
ledger = Ledger.open(args["gateway_url"], Path(args["deployments_file"]))
service = RecordService(identity, RecordClients.open(ledger, args["ipfs_url"], ipfs_secret=args["ipfs_secret"]), Path(args["data_dir"]))
release = threading.Event()

def hook(tx_hash, records):
    if len(records) > 1:
        Path(args["marker"]).write_text(json.dumps({"tx": tx_hash.to_0x_hex(), "records": ["0x" + r.record_id.hex() for r in records]}))
        time.sleep(3600)  # killed here: sent, receipt never read
    release.wait(60)

service.anchors.on_submitted = hook
first = threading.Thread(target=service.put, args=(lab(0), args["patient"]))
first.start()
while service.anchors.stats()["in_flight"] == 0:
    time.sleep(0.01)
others = [threading.Thread(target=service.put, args=(lab(k), args["patient"])) for k in range(1, args["puts"])]
for t in others: t.start()
while service.anchors.stats()["pending"] < args["puts"] - 1:
    time.sleep(0.01)
release.set()
for t in others: t.join()
"""


def consenting_patient(net: RunningNetwork, grantee: str) -> Identity:
    ledger = net.ledger()
    consents, relayer = ConsentLedger(ledger), ledger.sender(net.governors[0])
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    now = chain_now(ledger.w3)
    register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600)
    consents.relay(relayer, register, register.sign(patient.account))
    terms = ConsentTerms(grantee=grantee, categories=Category.LAB.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)
    grant = consents.grant_message(patient.address, terms, deadline=now + 600)
    consents.relay(relayer, grant, grant.sign(patient.account))
    return patient


def test_killed_after_sending_a_batch_then_retried_anchors_nothing_twice(geth_network: RunningNetwork, tmp_path: Path) -> None:
    clinic = admit_member(geth_network, "batch-crash-clinic", "Batch Crash Clinic", "BJ", ["PROVIDER"])
    patient = consenting_patient(geth_network, clinic.address)
    key_file = tmp_path / "clinic.key.json"
    KeyFile.from_identity(clinic, PASSWORD, scrypt_n=2**10).save(key_file)
    s, data_dir, marker = geth_network.settings, tmp_path / "records", tmp_path / "sent.json"
    args = {
        "key_file": str(key_file), "password": PASSWORD, "gateway_url": s.gateway_url, "deployments_file": str(s.deployments_file), "ipfs_url": s.ipfs_url,
        "ipfs_secret": s.ipfs_api_secret, "data_dir": str(data_dir), "patient": patient.address, "puts": PUTS, "marker": str(marker),
    }
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], cwd=Path(__file__).parents[2], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # a bound on waiting, not a measurement
    while not marker.exists():
        assert worker.poll() is None, worker.stderr.read().decode()[-3000:] if worker.stderr else ""
        assert time.monotonic() < deadline, "the worker never sent its batch"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    sent = json.loads(marker.read_text())
    assert len(sent["records"]) == PUTS - 1

    ledger = geth_network.ledger()
    clients = RecordClients.open(ledger, s.ipfs_url, ipfs_secret=s.ipfs_api_secret)
    restarted = RecordService(clinic, clients, data_dir)  # same key, same data dir: the process came back
    try:
        # The batch's puts left their objects spooled (the lone first one may have finished just before the kill).
        assert PUTS - 1 <= len(restarted.pending()) <= PUTS
        results = [restarted.put(lab(k), patient.address) for k in range(PUTS)]
        assert all(not result.created for result in results)  # all were anchored before the crash
        batched = {"0x" + r.record_id.hex() for r in results if r.anchor.batch is not None}
        assert batched == set(sent["records"])
        assert all(r.anchor.transaction_hash == sent["tx"] for r in results if r.anchor.batch is not None)
        assert restarted.pending() == [] and restarted.recover() == {"completed": [], "abandoned": [], "waiting": []}
        assert list((data_dir / clinic.address.lower() / "batches").glob("*.json")) == []  # journal settled
        singles = Counter(a.record_id for a in RecordRegistry(ledger).anchors_of(patient.address))
        in_batches = Counter(a.record_id for a in clients.batches.of_patient(patient.address))
        assert all(singles[r.record_id] + in_batches[r.record_id] == 1 for r in results)
        anchor = clients.batches.find(bytes.fromhex(sent["records"][0][2:]))
        assert anchor is not None and anchor.batch is not None
        assert cid_to_text(anchor.batch.manifest_cid) in clients.ipfs.pins()
    finally:
        restarted.close()
