"""One transaction pipeline per institution key (issue 11, section 3): several transactions in flight, locally
managed nonces shared across processes, and recovery when one fails. On geth, as the network runs.

* Four processes with one key, each putting records from two threads at once: no put fails (no "nonce too low"),
  every record is anchored exactly once, no object is left spooled, and no send even had to retry its nonce.
* A send refused for its nonce (an uncoordinated signer took it) is signed again with the chain's nonce.
* A transaction that reverts when mined, or is refused at send, does not wedge the ones after it.
* A transaction the network loses is sent again: unchanged while its nonce is free, re-signed once another
  transaction took its nonce; either way its call executes once.
* Chain id and fee data are read once, not per transaction; a caller's gas limit skips the estimate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes

from crypto import HpkePrivateKey, Identity, KeyFile
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.errors import ContractRevert, TransactionFailed
from ledger.records import ANCHOR_GAS, NewRecord, RecordRegistry
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member

PROCESSES = 4
THREADS_PER_PROCESS = 2
PUTS_PER_THREAD = 4
PASSWORD = "pipeline-test"

# One put-loop process: the institution's key from a key file, its own record service and data dir.
WORKER = r"""
import json, sys, threading
from pathlib import Path
from records import RecordClients, RecordService
from crypto import KeyFile
from ledger.chain import Ledger

args = json.loads(sys.argv[1])
identity = KeyFile.read(args["key_file"]).unlock(args["password"])
ledger = Ledger.open(args["gateway_url"], Path(args["deployments_file"]))
service = RecordService(identity, RecordClients.open(ledger, args["ipfs_url"], ipfs_secret=args["ipfs_secret"]), Path(args["data_dir"]))
results, failures = [], []

def loop(thread):
    for k in range(args["puts"]):
        seed = f"{args['worker']}-{thread}-{k}"
        body = {"resourceType": "Observation", "status": "final", "id": seed,
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                "valueQuantity": {"value": k, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}}
        try:
            result = service.put(body, args["patients"][(thread + k) % len(args["patients"])])
            results.append({"record_id": "0x" + result.record_id.hex(), "tx": result.anchor.transaction_hash, "created": result.created})
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=loop, args=(t,)) for t in range(args["threads"])]
for t in threads: t.start()
for t in threads: t.join()
service.close()
print(json.dumps({"results": results, "failures": failures, "nonce_retries": service.sender.nonce_retries, "pending": [r.hex() for r in service.pending()]}))
"""


def consenting_patient(net: RunningNetwork, grantee: str) -> Identity:
    ledger = net.ledger()
    consents, relayer = ConsentLedger(ledger), ledger.sender(net.governors[0])
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    now = chain_now(ledger.w3)
    register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600)
    consents.relay(relayer, register, register.sign(patient.account))
    terms = ConsentTerms(grantee=grantee, categories=sum(c.bit for c in Category), purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)
    grant = consents.grant_message(patient.address, terms, deadline=now + 600)
    consents.relay(relayer, grant, grant.sign(patient.account))
    return patient


@pytest.fixture(scope="module")
def clinic(geth_network: RunningNetwork) -> Identity:
    return admit_member(geth_network, "pipeline-clinic", "Pipeline Test Clinic", "BJ", ["PROVIDER"])


@pytest.fixture(scope="module")
def patient(geth_network: RunningNetwork, clinic: Identity) -> Identity:
    return consenting_patient(geth_network, clinic.address)


def anchor_call(net: RunningNetwork, patient: str, record_id: bytes | None = None) -> Any:
    registry = RecordRegistry(net.ledger())
    record = NewRecord(record_id=record_id or os.urandom(32), patient=patient, category=int(Category.LAB), content_hash=os.urandom(32), cid=b"\x01\x55\x12\x20" + os.urandom(32))
    return registry.contract.functions.anchorRecord(record.as_tuple())


def test_four_processes_with_one_key_lose_no_put(geth_network: RunningNetwork, tmp_path: Path) -> None:
    clinic = admit_member(geth_network, "pipeline-multiprocess", "Pipeline Multiprocess Clinic", "BJ", ["PROVIDER"])
    patients = [consenting_patient(geth_network, clinic.address).address for _ in range(2)]
    key_file = tmp_path / "clinic.key.json"
    KeyFile.from_identity(clinic, PASSWORD, scrypt_n=2**10).save(key_file)
    s = geth_network.settings
    workers = []
    for worker in range(PROCESSES):
        args = {
            "worker": worker, "key_file": str(key_file), "password": PASSWORD, "gateway_url": s.gateway_url, "deployments_file": str(s.deployments_file),
            "ipfs_url": s.ipfs_url, "ipfs_secret": s.ipfs_api_secret, "data_dir": str(tmp_path / f"worker-{worker}"), "patients": patients, "threads": THREADS_PER_PROCESS, "puts": PUTS_PER_THREAD,
        }
        workers.append(subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2]))
    outputs = []
    for process in workers:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()[-3000:]
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
    failures = [failure for output in outputs for failure in output["failures"]]
    assert failures == []
    results = [result for output in outputs for result in output["results"]]
    assert len(results) == PROCESSES * THREADS_PER_PROCESS * PUTS_PER_THREAD and all(result["created"] for result in results)
    assert all(output["pending"] == [] for output in outputs)  # nothing left spooled
    assert sum(output["nonce_retries"] for output in outputs) == 0  # the lock file kept them apart: no collision

    # Every record anchored exactly once: on its own (RecordAnchored) or in one batch's manifest.
    registry = RecordRegistry(geth_network.ledger())
    singles = Counter("0x" + a.record_id.hex() for p in patients for a in registry.anchors_of(p))
    from records import (
        RecordClients,  # the batch index reads the manifests from IPFS
    )

    index = RecordClients.open(geth_network.ledger(), s.ipfs_url, ipfs_secret=s.ipfs_api_secret).batches
    batched = Counter("0x" + a.record_id.hex() for p in patients for a in index.of_patient(p))
    ids = [result["record_id"] for result in results]
    assert len(set(ids)) == len(ids)
    assert all(singles[rid] + batched[rid] == 1 for rid in ids), {rid: (singles[rid], batched[rid]) for rid in ids if singles[rid] + batched[rid] != 1}
    assert set(singles) | set(batched) == set(ids)


def test_a_nonce_taken_by_another_signer_is_read_again(geth_network: RunningNetwork, clinic: Identity, patient: Identity) -> None:
    sender = geth_network.ledger().sender(clinic.account)
    sender.transact(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)  # now it believes it knows the next nonce
    w3 = sender.w3
    nonce = w3.eth.get_transaction_count(clinic.address, "pending")
    rogue = {"to": clinic.address, "value": 0, "gas": 21000, "nonce": nonce, "chainId": w3.eth.chain_id, "maxFeePerGas": 10**12, "maxPriorityFeePerGas": 10**9}
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(clinic.account.sign_transaction(rogue).raw_transaction))  # not through the lock
    retries = sender.nonce_retries
    receipt = sender.transact(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)
    assert receipt["status"] == 1
    assert sender.nonce_retries == retries + 1


def test_a_revert_or_a_refused_send_does_not_wedge_later_nonces(geth_network: RunningNetwork, clinic: Identity, patient: Identity) -> None:
    sender = geth_network.ledger().sender(clinic.account)
    stranger = Account.create().address  # no consent: anchorRecord reverts with NoConsent when mined
    reverting = sender.submit(anchor_call(geth_network, stranger), gas=ANCHOR_GAS)  # gas given: no estimate stops it
    following = sender.submit(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)
    with pytest.raises(ContractRevert) as refused:
        sender.wait(reverting)
    assert refused.value.name == "NoConsent"
    assert sender.wait(following)["status"] == 1
    with pytest.raises(TransactionFailed, match="intrinsic gas"):
        sender.submit(anchor_call(geth_network, patient.address), gas=21_000)  # refused by the node: no nonce used
    assert sender.transact(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)["status"] == 1


class LossyNetwork(TransactionSender):
    """The first `lose` broadcasts are accepted and then lost by the network (never reach a node)."""

    def __init__(self, *args: Any, lose: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose = lose

    def _broadcast(self, raw: bytes) -> HexBytes:
        if self.lose > 0:
            self.lose -= 1
            return HexBytes(keccak(raw))  # the hash a node would have answered with
        return super()._broadcast(raw)


def lossy_sender(net: RunningNetwork, clinic: Identity) -> LossyNetwork:
    ledger = net.ledger()
    sender = LossyNetwork(ledger.w3, clinic.account, ledger.decoder)
    sender.recovery_check_seconds = 0.5
    return sender


def test_a_lost_transaction_is_sent_again_while_its_nonce_is_free(geth_network: RunningNetwork, clinic: Identity, patient: Identity) -> None:
    sender = lossy_sender(geth_network, clinic)
    lost_id, next_id = os.urandom(32), os.urandom(32)
    lost = sender.submit(anchor_call(geth_network, patient.address, lost_id), gas=ANCHOR_GAS)
    behind = sender.submit(anchor_call(geth_network, patient.address, next_id), gas=ANCHOR_GAS)  # waits behind the gap
    assert sender.wait(lost)["transactionHash"] == lost  # the same bytes, re-broadcast
    assert sender.wait(behind)["status"] == 1
    assert sender.resent == 1
    registry = RecordRegistry(geth_network.ledger())
    assert len(registry.ledger.events("RecordRegistry", "RecordAnchored", recordId=lost_id)) == 1


def test_a_lost_transaction_whose_nonce_was_taken_is_signed_again_once(geth_network: RunningNetwork, clinic: Identity, patient: Identity) -> None:
    sender = lossy_sender(geth_network, clinic)
    record_id = os.urandom(32)
    lost = sender.submit(anchor_call(geth_network, patient.address, record_id), gas=ANCHOR_GAS)
    other = geth_network.ledger().sender(clinic.account)  # another sender of the key takes the free nonce
    assert other.transact(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)["status"] == 1
    receipt = sender.wait(lost)
    assert receipt["status"] == 1 and receipt["transactionHash"] != lost  # signed again, with a fresh nonce
    registry = RecordRegistry(geth_network.ledger())
    assert len(registry.ledger.events("RecordRegistry", "RecordAnchored", recordId=record_id)) == 1


def test_chain_id_and_fees_are_read_once_and_gas_given_skips_the_estimate(geth_network: RunningNetwork, clinic: Identity, patient: Identity) -> None:
    from web3.middleware import Web3Middleware

    ledger = geth_network.ledger()
    sender = ledger.sender(clinic.account)
    sender.transact(anchor_call(geth_network, patient.address), gas=ANCHOR_GAS)  # warm: chain identity, fees, nonce
    seen: Counter[str] = Counter()

    class Count(Web3Middleware):
        def wrap_make_request(self, make_request: Any) -> Any:
            def middleware(method: str, params: Any) -> Any:
                seen[method] += 1
                return make_request(method, params)

            return middleware

    ledger.w3.middleware_onion.add(Count, "count")
    calls = [anchor_call(geth_network, patient.address) for _ in range(5)]
    hashes = [sender.submit(call, gas=ANCHOR_GAS) for call in calls]
    assert all(sender.wait(tx_hash)["status"] == 1 for tx_hash in hashes)
    assert seen["eth_sendRawTransaction"] == 5
    assert seen["eth_estimateGas"] == 0 and seen["eth_chainId"] == 0 and seen["eth_getTransactionCount"] == 0
    assert seen["eth_getBlockByNumber"] <= 1 and seen["eth_maxPriorityFeePerGas"] <= 1  # fees: at most one refresh (1 s)
