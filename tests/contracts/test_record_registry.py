"""RecordRegistry: anchoring (single, patient-authorised, batched), erasure markers and the access log.

Members act through the permissioning gateway. Patients' *direct* calls (requestErasure,
requestBatchedErasure) are sent on the operator's private port: patients are not members, so the gateway
would refuse their raw transactions before the contract saw them. Refusals by members are mined without gas
estimation and followed by a check that the state the call could touch is unchanged.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ContractRevert
from ledger.merkle import BatchRecord, RecordBatch
from ledger.records import REQUEST_ERASURE_TYPES, UPLOAD_AUTHORIZATION_TYPES
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender, revert_data
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc
from tests.support.chain_clock import take_snapshot, revert_snapshot

CLINIC = throwaway_account("record-registry/clinic")  # PROVIDER: anchors records
LAB = throwaway_account("record-registry/lab")  # PROVIDER: a reader / second author
RESCUE = throwaway_account("record-registry/rescue")  # EMERGENCY role only
INSURER = throwaway_account("record-registry/insurer")  # PAYER: a member that is not a provider
OUTSIDER = throwaway_account("record-registry/outsider")  # not a member
ZERO = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
ECG, LABS, IMAGING = int(Category.ECG), int(Category.LAB), int(Category.IMAGING)
TREATMENT, PAYMENT, RESEARCH, EMERGENCY = (int(p) for p in (Purpose.TREATMENT, Purpose.PAYMENT, Purpose.RESEARCH, Purpose.EMERGENCY))
MANIFEST = b"\x01\x55\x12\x20" + b"\x09" * 32
GAS = 3_000_000


@pytest.fixture(scope="module")
def members(local_network: RunningNetwork) -> Iterator[None]:
    """Admit this module's members once (snapshot/revert around the whole module)."""
    governor = local_network.governors[0].address
    # Let the gateway fund the governors before the snapshot (it funds on the first gas request it sees).
    rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": governor, "to": governor}])
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        ledger = local_network.ledger()
        registry = ConsortiumRegistry(ledger)
        proposer, approver = ledger.sender(local_network.governors[0]), ledger.sender(local_network.governors[1])
        admissions = [(CLINIC, "PROVIDER"), (LAB, "PROVIDER"), (RESCUE, "EMERGENCY"), (INSURER, "PAYER")]
        ids = [
            registry.propose_admission(proposer, MemberApplication(address=a.address, name=f"Member {a.address[:8]}", country="KZ", roles=[role], hpke_public_key=b"\x02" * 32))
            for a, role in admissions
        ]
        assert all(registry.approve(approver, proposal_id) for proposal_id in ids)
        rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": CLINIC.address, "to": CLINIC.address}])
        assert all(ledger.w3.eth.get_balance(a.address) > 0 for a, _ in admissions)
        yield
    finally:
        revert_snapshot(operator, snapshot)


def raw_transaction(w3: Web3, account: LocalAccount, function: ContractFunction, nonce: int | None = None) -> bytes:
    """`function` signed by `account` with a fixed gas limit (no estimation, so a revert gets mined)."""
    tx = {
        "to": function.address, "data": function._encode_transaction_data(), "value": 0, "gas": GAS, "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending") if nonce is None else nonce,
        "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def record(label: str, patient: LocalAccount | str, category: int = ECG, supersedes: bytes = ZERO32, cid: bytes | None = None) -> tuple[bytes, str, int, bytes, bytes, bytes]:
    """A NewRecord tuple: (recordId, patient, category, contentHash, cid, supersedes)."""
    address = patient if isinstance(patient, str) else patient.address
    return (keccak(text=f"id/{label}"), address, category, keccak(text=f"sha/{label}"), b"\x01\x55\x12\x20" + keccak(text=f"cid/{label}") if cid is None else cid, supersedes)


def batched(label: str, patient: LocalAccount, category: int = ECG) -> BatchRecord:
    r = record(label, patient, category)
    return BatchRecord(record_id=r[0], patient=r[1], category=r[2], content_hash=r[3], cid=r[4])


def patient_of(label: str) -> LocalAccount:
    return throwaway_account(f"record-registry/patient/{label}")


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    consents: ConsentLedger
    contract: Contract

    @property
    def fns(self) -> Any:
        return self.contract.functions

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.ledger.sender(account)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def operator(self, method: str, params: list[Any] | None = None) -> Any:
        return self.net.operator_w3.provider.make_request(method, params or [])  # type: ignore[arg-type]

    def travel(self, seconds: int) -> None:
        self.operator("evm_increaseTime", [seconds])
        self.operator("evm_mine")

    def direct(self, account: LocalAccount) -> TransactionSender:
        """A sender on the private port: a patient is no member, and the gateway refuses non-members' transactions."""
        self.operator("anvil_setBalance", [account.address, hex(10**18)])
        return TransactionSender(self.net.operator_w3, account, self.ledger.decoder)

    def grant(self, patient: LocalAccount, grantee: LocalAccount = CLINIC, categories: int = 1 << ECG, purposes: int = TREATMENT, **window: int) -> bytes:
        """A consent signed by the patient and relayed by the grantee; returns its consent id."""
        now = self.now()
        fields: dict[str, Any] = {"valid_from": now - 60, "valid_until": now + 3600} | window
        terms = ConsentTerms(grantee=grantee.address, categories=categories, purposes=purposes, **fields)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        consent_id = self.consents.relay(self.sender(grantee), message, message.sign(patient))
        assert consent_id is not None
        return consent_id

    def grants(self, *specs: tuple[Any, ...]) -> list[bytes]:
        """Several grants, each (patient, grantee[, term overrides]), pipelined by one relayer: one receipt wait."""
        now = self.now()
        nonces: dict[str, int] = {}
        calls = []
        for patient, grantee, *rest in specs:
            options: dict[str, Any] = {"categories": 1 << ECG, "purposes": TREATMENT, "valid_from": now - 60, "valid_until": now + 3600} | (rest[0] if rest else {})
            nonce = nonces.setdefault(patient.address, self.consents.nonce(patient.address))
            nonces[patient.address] = nonce + 1
            message = self.consents.grant_message(patient.address, ConsentTerms(grantee=grantee.address, **options), deadline=now + 600, nonce=nonce)
            m = message.message
            terms = (m["grantee"], m["categories"], m["purposes"], m["validFrom"], m["validUntil"], m["dataFrom"], m["dataUntil"])
            calls.append(self.consents.contract.functions.grantConsentBySig(m["patient"], terms, nonce, m["deadline"], message.sign(patient)))
        receipts = self.sender(CLINIC).transact_many(calls)
        granted = self.consents.contract.events.ConsentGranted()
        return [bytes(granted.process_receipt(r, errors=DISCARD)[0]["args"]["consentId"]) for r in receipts]

    def revoke(self, patient: LocalAccount, grantee: LocalAccount = CLINIC) -> None:
        message = self.consents.revoke_message(patient.address, grantee.address, deadline=self.now() + 600)
        self.consents.relay(self.sender(grantee), message, message.sign(patient))

    def anchor(self, author: LocalAccount, new_record: tuple[Any, ...]) -> TxReceipt:
        return self.sender(author).transact(self.fns.anchorRecord(new_record))

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        found = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [_plain(dict(e["args"])) for e in found if e["address"] == self.contract.address]

    def upload_message(self, new_record: tuple[Any, ...], author: str, nonce: int = 0, deadline: int | None = None) -> TypedMessage:
        record_id, patient, category, content_hash, cid, supersedes = new_record
        message = {
            "patient": patient, "author": author, "recordId": record_id, "category": category, "contentHash": content_hash,
            "cid": cid, "supersedes": supersedes, "nonce": nonce, "deadline": self.now() + 600 if deadline is None else deadline,
        }
        return TypedMessage(self.domain, "UploadAuthorization", UPLOAD_AUTHORIZATION_TYPES, message)

    def erasure_message(self, patient: str, record_id: bytes, nonce: int = 0, deadline: int | None = None) -> TypedMessage:
        message = {"patient": patient, "recordId": record_id, "nonce": nonce, "deadline": self.now() + 600 if deadline is None else deadline}
        return TypedMessage(self.domain, "RequestErasure", REQUEST_ERASURE_TYPES, message)

    @cached_property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    def state(self, record_ids: list[bytes], accounts: list[str] = [], roots: list[bytes] = []) -> list[Any]:  # noqa: B006
        """What a refused call could have touched (one batched round trip)."""
        f = self.fns
        with self.w3.batch_requests() as batch:
            for record_id in record_ids:
                batch.add(f.getRecord(record_id))
                batch.add(f.isErased(record_id))
            for account in accounts:
                batch.add(f.nonces(account))
            for root in roots:
                batch.add(f.getBatch(root))
            return list(batch.execute())

    def mined_refusal(self, account: LocalAccount, function: ContractFunction, w3: Web3 | None = None) -> ContractRevert:
        """Mine `function` from `account` without gas estimation and return the contract's refusal.

        Sent through `w3` (the gateway unless told otherwise); the receipt is read on the private port so the
        gateway does not write a durability snapshot for every refused call, and the refusal is decoded by
        replaying the call on the state it saw."""
        w3 = w3 or self.w3
        tx_hash = w3.eth.send_raw_transaction(raw_transaction(w3, account, function))
        receipt = self.net.operator_w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.02)
        assert receipt["status"] == 0, "the call was expected to revert"
        replay = {"from": account.address, "to": function.address, "data": function._encode_transaction_data(), "gas": GAS}
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError) as exc:
            data = revert_data(exc)
            assert data is not None, str(exc)
            return self.ledger.decoder.decode(data)
        raise AssertionError("the replayed call did not revert")

    def direct_refusal(self, account: LocalAccount, function: ContractFunction) -> ContractRevert:
        self.direct(account)
        return self.mined_refusal(account, function, self.net.operator_w3)


def _plain(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (bytes(v) if isinstance(v, (bytes, bytearray)) else [bytes(x) for x in v] if isinstance(v, (list, tuple)) else v) for k, v in args.items()}


@pytest.fixture
def world(members: None, chain: RunningNetwork) -> World:
    ledger = chain.ledger()
    return World(chain, ledger, ConsentLedger(ledger), ledger.contract("RecordRegistry"))


def expect(error: ContractRevert, name: str, **args: Any) -> None:
    assert error.name == name, str(error)
    for key, value in args.items():
        actual = error.args_by_name[key]
        if isinstance(value, str):
            assert str(actual).lower() == value.lower(), str(error)
        else:
            assert actual == value, str(error)


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    with pytest.raises(ContractRevert) as info:
        yield
    expect(info.value, name, **args)


def consent_id(patient: str, grantee: str, version: int) -> bytes:
    return keccak(encode(["address", "address", "uint32"], [patient, grantee, version]))


def test_views_and_limits(world: World) -> None:
    f = world.fns
    assert f.registry().call() == world.ledger.deployments.address_of("ConsortiumRegistry")
    assert f.consentLedger().call() == world.consents.contract.address
    assert (f.MAX_CID_LENGTH().call(), f.MAX_BATCH_SIZE().call()) == (128, 1024)
    unknown = keccak(text="unknown")
    assert tuple(f.getRecord(unknown).call()) == (ZERO, 0, 0, False, ZERO) and not f.isErased(unknown).call()
    assert tuple(f.getBatch(unknown).call()) == (ZERO, 0, 0)


# --------------------------------------------------------------------------------------------------
# Anchoring a single record under a consent
# --------------------------------------------------------------------------------------------------


def test_anchor_record_under_consent_emits_everything(world: World) -> None:
    patient = patient_of("anchor")
    cid = world.grant(patient)
    new = record("anchor", patient, cid=b"\x07" * 128)  # the longest CID accepted
    assert bytes(world.sender(CLINIC).call(world.fns.anchorRecord(new))) == cid == consent_id(patient.address, CLINIC.address, 1)
    receipt = world.anchor(CLINIC, new)
    assert world.events(receipt, "RecordAnchored") == [{
        "recordId": new[0], "patient": patient.address, "author": CLINIC.address, "category": ECG,
        "contentHash": new[3], "cid": new[4], "supersedes": ZERO32, "consentId": cid,
    }]
    block = world.w3.eth.get_block(receipt["blockNumber"])
    assert tuple(world.fns.getRecord(new[0]).call()) == (patient.address, ECG, block["timestamp"], False, CLINIC.address)
    assert not world.fns.isErased(new[0]).call()


NO_CONSENT_CASES = ["none", "wrong-category", "revoked", "expired", "not-yet-valid", "data-period-ended", "data-period-not-started", "no-treatment-purpose", "consent-to-another-provider"]


@pytest.mark.parametrize("case", NO_CONSENT_CASES)
def test_anchor_without_a_covering_consent_is_refused(world: World, case: str) -> None:
    patient = patient_of(f"no-consent-{case}")
    now = world.now()
    if case == "wrong-category":
        world.grant(patient, categories=1 << LABS)
    elif case == "revoked":
        world.grant(patient)
        world.revoke(patient)
    elif case == "expired":
        world.grant(patient, valid_until=now + 100)
        world.travel(200)
    elif case == "not-yet-valid":
        world.grant(patient, valid_from=now + 1000, valid_until=now + 2000)
    elif case == "data-period-ended":
        world.grant(patient, data_from=0, data_until=now - 10)
    elif case == "data-period-not-started":
        world.grant(patient, data_from=now + 1000, data_until=0)
    elif case == "no-treatment-purpose":
        world.grant(patient, purposes=RESEARCH | PAYMENT)
    elif case == "consent-to-another-provider":
        world.grant(patient, grantee=LAB)
    new = record(f"no-consent-{case}", patient)
    before = world.state([new[0]])
    expect(world.mined_refusal(CLINIC, world.fns.anchorRecord(new)), "NoConsent", patient=patient.address, grantee=CLINIC.address, category=ECG, purpose=TREATMENT)
    assert world.state([new[0]]) == before


@pytest.mark.parametrize("who", ["payer", "emergency", "governor", "suspended-provider"])
def test_only_active_providers_anchor(world: World, who: str) -> None:
    patient = patient_of(f"non-provider-{who}")
    account = {"payer": INSURER, "emergency": RESCUE, "governor": world.net.governors[0], "suspended-provider": LAB}[who]
    world.grant(patient, grantee=account if who != "governor" else CLINIC)
    if who == "suspended-provider":
        registry = ConsortiumRegistry(world.ledger)
        proposal = registry.propose_suspension(world.sender(world.net.governors[0]), LAB.address, "licence lapsed")
        assert registry.approve(world.sender(world.net.governors[1]), proposal)
    new = record(f"non-provider-{who}", patient)
    before = world.state([new[0]])
    if who == "suspended-provider":
        # The gateway already refuses a suspended member's transactions; the contract must refuse them as well
        # (defence in depth), which only the private port can show.
        with pytest.raises(Web3RPCError, match="suspended"):
            world.w3.eth.send_raw_transaction(raw_transaction(world.w3, LAB, world.fns.anchorRecord(new)))
        expect(world.direct_refusal(LAB, world.fns.anchorRecord(new)), "NotActiveProvider", account=LAB.address)
    else:
        expect(world.mined_refusal(account, world.fns.anchorRecord(new)), "NotActiveProvider", account=account.address)
    assert world.state([new[0]]) == before


def test_non_members_cannot_anchor(world: World) -> None:
    patient = patient_of("outsider")
    new = record("outsider", patient)
    with pytest.raises(Web3RPCError, match="refused"):
        world.w3.eth.send_raw_transaction(raw_transaction(world.w3, OUTSIDER, world.fns.anchorRecord(new)))
    expect(world.direct_refusal(OUTSIDER, world.fns.anchorRecord(new)), "NotActiveProvider", account=OUTSIDER.address)


@pytest.mark.parametrize(
    ("case", "change", "error", "args"),
    [
        ("zero-id", {0: ZERO32}, "InvalidRecord", {"recordId": ZERO32}),
        ("zero-content-hash", {3: ZERO32}, "InvalidRecord", {}),
        ("zero-patient", {1: ZERO}, "InvalidAddress", {}),
        ("category-16", {2: 16}, "InvalidCategory", {"category": 16}),
        ("empty-cid", {4: b""}, "InvalidCid", {"length": 0}),
        ("long-cid", {4: b"\x01" * 129}, "InvalidCid", {"length": 129}),
    ],
)
def test_malformed_records_are_refused(world: World, case: str, change: dict[int, Any], error: str, args: dict[str, Any]) -> None:
    patient = patient_of("malformed")
    world.grant(patient, categories=0xFFFF)
    fields = list(record(f"malformed-{case}", patient))
    for index, value in change.items():
        fields[index] = value
    before = world.state([fields[0]])
    expect(world.mined_refusal(CLINIC, world.fns.anchorRecord(tuple(fields))), error, **args)
    assert world.state([fields[0]]) == before


def test_duplicate_record_id_is_refused(world: World) -> None:
    patient, other = patient_of("dup"), patient_of("dup-other")
    world.grants((patient, CLINIC), (other, CLINIC), (patient, LAB))
    first = record("dup", patient)
    world.anchor(CLINIC, first)
    before = world.state([first[0]])
    for author, again in ((CLINIC, first), (CLINIC, record("dup", other)), (LAB, first)):
        again = (first[0], *again[1:])
        expect(world.mined_refusal(author, world.fns.anchorRecord(again)), "RecordAlreadyAnchored", recordId=first[0])
    assert world.state([first[0]]) == before


def test_supersedes_rules(world: World) -> None:
    patient, other = patient_of("sup"), patient_of("sup-other")
    world.grants((patient, CLINIC), (other, CLINIC))
    v1 = record("sup-v1", patient)
    world.anchor(CLINIC, v1)
    v2 = record("sup-v2", patient, supersedes=v1[0])
    receipt = world.anchor(CLINIC, v2)
    assert world.events(receipt, "RecordAnchored")[0]["supersedes"] == v1[0]

    others = record("sup-others", other)
    world.anchor(CLINIC, others)
    batch = RecordBatch([batched("sup-batched", patient)])
    world.sender(CLINIC).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    erased = record("sup-erased", patient)
    world.anchor(CLINIC, erased)
    world.direct(patient).transact(world.fns.requestErasure(erased[0]))

    cases = [
        (keccak(text="never anchored"), "UnknownRecord", {"recordId": keccak(text="never anchored")}),
        (batch.records[0].record_id, "UnknownRecord", {}),  # batch records are not stored one by one
        (others[0], "SupersededRecordMismatch", {"supersedes": others[0], "patient": patient.address}),
        (erased[0], "RecordIsErased", {"recordId": erased[0]}),
    ]
    for index, (supersedes, error, args) in enumerate(cases):
        new = record(f"sup-bad-{index}", patient, supersedes=supersedes)
        before = world.state([new[0]])
        expect(world.mined_refusal(CLINIC, world.fns.anchorRecord(new)), error, **args)
        assert world.state([new[0]]) == before


# --------------------------------------------------------------------------------------------------
# Anchoring under a patient-signed upload authorisation
# --------------------------------------------------------------------------------------------------


def test_upload_authorization_replaces_the_consent(world: World) -> None:
    patient = patient_of("upload")
    new = record("upload", patient, category=IMAGING)
    message = world.upload_message(new, CLINIC.address)
    receipt = world.sender(CLINIC).transact(world.fns.anchorRecordWithAuthorization(new, 0, message.message["deadline"], message.sign(patient)))
    assert world.events(receipt, "RecordAnchored") == [{
        "recordId": new[0], "patient": patient.address, "author": CLINIC.address, "category": IMAGING,
        "contentHash": new[3], "cid": new[4], "supersedes": ZERO32, "consentId": ZERO32,
    }]
    assert world.events(receipt, "UploadAuthorizationUsed") == [{"recordId": new[0], "signer": patient.address, "nonce": 0}]
    assert world.fns.nonces(patient.address).call() == 1
    assert world.consents.nonce(patient.address) == 0, "the two contracts keep separate nonces"
    assert world.fns.getRecord(new[0]).call()[0] == patient.address


def test_upload_authorization_by_the_delegate_uses_its_own_nonce(world: World) -> None:
    patient, carer = patient_of("upload-deleg"), patient_of("upload-carer")
    consent_contract = world.consents.contract
    world.direct(patient).transact(consent_contract.functions.setDelegate(carer.address))
    new = record("upload-deleg", patient)
    message = world.upload_message(new, CLINIC.address)
    receipt = world.sender(CLINIC).transact(world.fns.anchorRecordWithAuthorization(new, 0, message.message["deadline"], message.sign(carer)))
    assert world.events(receipt, "UploadAuthorizationUsed") == [{"recordId": new[0], "signer": carer.address, "nonce": 0}]
    assert (world.fns.nonces(carer.address).call(), world.fns.nonces(patient.address).call()) == (1, 0)


UPLOAD_CASES = ["replayed-nonce", "expired", "other-author", "tampered-cid", "stranger", "consent-ledger-domain", "non-provider", "high-s"]


@pytest.mark.parametrize("case", UPLOAD_CASES)
def test_upload_authorization_refusals(world: World, case: str) -> None:
    patient, stranger = patient_of(f"upload-{case}"), patient_of("upload-someone-else")
    new = record(f"upload-{case}", patient)
    author, submitter = CLINIC.address, CLINIC
    nonce, deadline = 0, world.now() + 600
    signer = patient
    if case == "replayed-nonce":
        used = record(f"upload-{case}-first", patient)
        first = world.upload_message(used, CLINIC.address)
        world.sender(CLINIC).transact(world.fns.anchorRecordWithAuthorization(used, 0, first.message["deadline"], first.sign(patient)))
        error: tuple[str, dict[str, Any]] = ("InvalidAccountNonce", {"account": patient.address, "currentNonce": 1})
    elif case == "expired":
        deadline = world.now() - 1
        error = ("ExpiredSignature", {"deadline": deadline})
    elif case == "other-author":
        submitter = LAB  # the patient authorised CLINIC, and the author is signed
        error = ("UnauthorizedSigner", {"patient": patient.address})
    elif case == "tampered-cid":
        error = ("UnauthorizedSigner", {"patient": patient.address})
    elif case == "stranger":
        signer = stranger
        error = ("UnauthorizedSigner", {"patient": patient.address, "signer": stranger.address})
    elif case == "consent-ledger-domain":
        error = ("UnauthorizedSigner", {"patient": patient.address})
    elif case == "high-s":
        error = ("ECDSAInvalidSignatureS", {})
    else:
        submitter = INSURER
        error = ("NotActiveProvider", {"account": INSURER.address})
    message = world.upload_message(new, author, nonce, deadline)
    if case == "consent-ledger-domain":
        message = dataclasses.replace(message, domain=world.consents.domain)
    signature = message.sign(signer)
    if case == "high-s":
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        signature = signature[:32] + (n - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big") + bytes([55 - signature[64]])
    submitted = new if case != "tampered-cid" else (*new[:4], new[4] + b"\x00", new[5])
    before = world.state([new[0], submitted[0]], [patient.address, stranger.address])
    expect(world.mined_refusal(submitter, world.fns.anchorRecordWithAuthorization(submitted, nonce, deadline, signature)), error[0], **error[1])
    assert world.state([new[0], submitted[0]], [patient.address, stranger.address]) == before


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------


def test_batch_anchor_proofs_and_duplicate(world: World) -> None:
    alice, bob = patient_of("batch-alice"), patient_of("batch-bob")
    world.grants((alice, CLINIC, {"categories": (1 << ECG) | (1 << LABS)}), (bob, CLINIC, {"categories": 1 << IMAGING}))
    records = [batched("b0", alice), batched("b1", alice, LABS), batched("b2", bob, IMAGING), batched("b3", alice), batched("b4", bob, IMAGING)]
    batch = RecordBatch(records)
    clinic = world.sender(CLINIC)
    assert bytes(clinic.call(world.fns.anchorBatch(batch.entries(), MANIFEST))) == batch.root
    receipt = clinic.transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    assert world.events(receipt, "RecordBatchAnchored") == [{"root": batch.root, "author": CLINIC.address, "count": 5, "manifestCid": MANIFEST}]
    timestamp = world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(world.fns.getBatch(batch.root).call()) == (CLINIC.address, timestamp, 5)
    for index, r in enumerate(records):
        assert world.fns.verifyBatchedRecord(batch.root, r.as_tuple(), batch.proof(index)).call()
        assert world.fns.getRecord(r.record_id).call()[0] == ZERO, "batch records are not stored one by one"
    moved = dataclasses.replace(records[0], category=LABS)
    assert not world.fns.verifyBatchedRecord(batch.root, moved.as_tuple(), batch.proof(0)).call()
    before = world.state([], roots=[batch.root])
    expect(world.mined_refusal(CLINIC, world.fns.anchorBatch(batch.entries(), MANIFEST)), "BatchAlreadyAnchored", root=batch.root)
    assert world.state([], roots=[batch.root]) == before


def _dirty_batch_call(world: World, entries: list[tuple[bytes, str, int]], index: int) -> bytes:
    """anchorBatch calldata with non-zero high bits in entry `index`'s patient word (the ABI decoder lets it through)."""
    data = bytearray(bytes.fromhex(world.fns.anchorBatch(entries, MANIFEST)._encode_transaction_data()[2:]))
    # selector | offset(entries) | offset(cid) | length | entries (3 words each) ...
    patient_word = 4 + 32 * 3 + 96 * index + 32
    data[patient_word] = 0xFF
    return bytes(data)


@pytest.mark.parametrize("case", ["empty", "too-many", "no-manifest", "long-manifest", "no-consent", "revoked", "category-16", "zero-digest", "zero-patient-later", "non-provider", "dirty-entry"])
def test_batch_refusals(world: World, case: str) -> None:
    alice, bob = patient_of("batch-refusal-alice"), patient_of("batch-refusal-bob")
    world.grant(alice)
    good = RecordBatch([batched(f"r{index}", alice) for index in range(3)]).entries()
    entries, manifest, sender = good, MANIFEST, CLINIC
    error: tuple[str, dict[str, Any]]
    if case == "empty":
        entries, error = [], ("InvalidBatchSize", {"size": 0})
    elif case == "too-many":
        entries, error = good[:1] * 1025, ("InvalidBatchSize", {"size": 1025})
    elif case == "no-manifest":
        manifest, error = b"", ("InvalidCid", {"length": 0})
    elif case == "long-manifest":
        manifest, error = b"\x01" * 129, ("InvalidCid", {"length": 129})
    elif case == "no-consent":
        entries, error = [*good, batched("r-bob", bob).as_entry()], ("NoConsent", {"patient": bob.address, "grantee": CLINIC.address, "category": ECG, "purpose": TREATMENT})
    elif case == "revoked":
        world.revoke(alice)
        error = ("NoConsent", {"patient": alice.address})
    elif case == "category-16":
        entries, error = [*good, (good[0][0], alice.address, 16)], ("InvalidCategory", {"category": 16})
    elif case == "zero-digest":
        entries, error = [*good, (ZERO32, alice.address, ECG)], ("InvalidRecord", {"recordId": ZERO32})
    elif case == "zero-patient-later":
        entries, error = [*good, (good[0][0], ZERO, ECG)], ("InvalidAddress", {})
    elif case == "non-provider":
        sender, error = INSURER, ("NotActiveProvider", {"account": INSURER.address})
    else:
        error = ("InvalidBatchEntry", {"index": 1})
    function = world.fns.anchorBatch(entries, manifest)
    if case == "too-many":
        # eth_call: the limit is MAX_BATCH_SIZE = 1024 entries, refused one past it (no block needed).
        assert bytes(world.sender(sender).call(world.fns.anchorBatch(good[:1] * 1024, manifest))) == RecordBatch([batched("r0", alice)] * 1024).root
        with reverts(error[0], **error[1]):
            world.sender(sender).call(function)
        return
    if case == "dirty-entry":
        tx = {"from": CLINIC.address, "to": world.contract.address, "data": "0x" + _dirty_batch_call(world, good, 1).hex()}
        with pytest.raises((ContractCustomError, ContractLogicError)) as info:
            world.w3.eth.call(tx)  # type: ignore[arg-type]
        data = revert_data(info.value)
        assert data is not None
        expect(world.ledger.decoder.decode(data), error[0], **error[1])
        return
    expect(world.mined_refusal(sender, function), error[0], **error[1])


@pytest.mark.parametrize("position", ["only", "first", "middle", "last"])
def test_batch_refuses_a_zero_patient_in_any_entry_as_invalid_address(world: World, position: str) -> None:
    alice = patient_of("batch-zero-alice")
    world.grant(alice)
    good = RecordBatch([batched(f"z{index}", alice) for index in range(2)]).entries()
    zero = (keccak(text="d"), ZERO, ECG)
    entries = {"only": [zero], "first": [zero, *good], "middle": [good[0], zero, good[1]], "last": [*good, zero]}[position]
    with reverts("InvalidAddress"):
        world.sender(CLINIC).call(world.fns.anchorBatch(entries, MANIFEST))
    expect(world.mined_refusal(CLINIC, world.fns.anchorBatch(entries, MANIFEST)), "InvalidAddress")


# --------------------------------------------------------------------------------------------------
# Erasure
# --------------------------------------------------------------------------------------------------


def test_direct_erasure_then_access_is_refused(world: World) -> None:
    patient = patient_of("erase")
    world.grants((patient, CLINIC), (patient, LAB))
    new = record("erase", patient)
    world.anchor(CLINIC, new)
    receipt = world.direct(patient).transact(world.fns.requestErasure(new[0]))
    assert world.events(receipt, "RecordErased") == [{"recordId": new[0], "patient": patient.address, "batchRoot": ZERO32}]
    state = world.fns.getRecord(new[0]).call()
    assert state[0] == patient.address and state[3] is True and world.fns.isErased(new[0]).call()
    before = world.state([new[0]])
    expect(world.mined_refusal(LAB, world.fns.recordAccessed(new[0], TREATMENT)), "RecordIsErased", recordId=new[0])
    expect(world.mined_refusal(LAB, world.fns.recordsAccessed([new[0]], TREATMENT)), "RecordIsErased", recordId=new[0])
    expect(world.direct_refusal(patient, world.fns.requestErasure(new[0])), "RecordIsErased", recordId=new[0])
    assert world.state([new[0]]) == before


def test_direct_erasure_refusals(world: World) -> None:
    patient, stranger = patient_of("erase-refuse"), patient_of("erase-stranger")
    world.grant(patient)
    new = record("erase-refuse", patient)
    world.anchor(CLINIC, new)
    before = world.state([new[0]])
    expect(world.direct_refusal(stranger, world.fns.requestErasure(new[0])), "NotRecordPatient", recordId=new[0], account=stranger.address)
    expect(world.mined_refusal(CLINIC, world.fns.requestErasure(new[0])), "NotRecordPatient", account=CLINIC.address)  # not even its author
    unknown = keccak(text="unknown")
    expect(world.direct_refusal(patient, world.fns.requestErasure(unknown)), "UnknownRecord", recordId=unknown)
    assert world.state([new[0]]) == before


@pytest.mark.parametrize("case", ["ok", "replayed", "stranger", "delegate", "expired", "non-member-relayer", "non-member-relayer-unknown-record", "unknown-record"])
def test_erasure_by_signature(world: World, case: str) -> None:
    patient, stranger = patient_of(f"erase-sig-{case}"), patient_of("erase-sig-someone-else")
    world.grant(patient)
    new = record(f"erase-sig-{case}", patient)
    world.anchor(CLINIC, new)
    deadline = world.now() + 600
    record_id, signer, relayer, w3 = new[0], patient, LAB, None
    error: tuple[str, dict[str, Any]] | None = None
    if case == "ok":
        pass
    elif case == "replayed":
        other = record("erase-sig-replayed-other", patient)
        world.anchor(CLINIC, other)
        first = world.erasure_message(patient.address, other[0])
        world.sender(LAB).transact(world.fns.requestErasureBySig(other[0], 0, first.message["deadline"], first.sign(patient)))
        error = ("InvalidAccountNonce", {"account": patient.address, "currentNonce": 1})
    elif case == "stranger":
        signer, error = stranger, ("UnauthorizedSigner", {"patient": patient.address, "signer": stranger.address})
    elif case == "delegate":  # erasure is the patient's own act: a delegate cannot sign it
        world.direct(patient).transact(world.consents.contract.functions.setDelegate(stranger.address))
        signer, error = stranger, ("UnauthorizedSigner", {"signer": stranger.address})
    elif case == "expired":
        deadline, error = world.now() - 1, ("ExpiredSignature", {})
    elif case == "non-member-relayer":
        relayer, w3 = OUTSIDER, world.net.operator_w3  # the gateway refuses non-members; the contract must too
        world.direct(OUTSIDER)
        error = ("NotActiveMember", {"account": OUTSIDER.address})
    elif case == "non-member-relayer-unknown-record":
        # Membership is checked before the record: a non-member's refusal is the same whether or not it exists.
        relayer, w3, record_id = OUTSIDER, world.net.operator_w3, keccak(text="unknown")
        world.direct(OUTSIDER)
        error = ("NotActiveMember", {"account": OUTSIDER.address})
    else:
        record_id, error = keccak(text="unknown"), ("UnknownRecord", {"recordId": keccak(text="unknown")})
    message = world.erasure_message(patient.address, record_id, nonce=0, deadline=deadline)
    function = world.fns.requestErasureBySig(record_id, 0, deadline, message.sign(signer))
    if error is None:
        receipt = world.sender(relayer).transact(function)
        assert world.events(receipt, "RecordErased") == [{"recordId": record_id, "patient": patient.address, "batchRoot": ZERO32}]
        assert world.fns.isErased(record_id).call() and world.fns.nonces(patient.address).call() == 1
        return
    before = world.state([new[0], record_id], [patient.address, stranger.address])
    expect(world.mined_refusal(relayer, function, w3), error[0], **error[1])
    assert world.state([new[0], record_id], [patient.address, stranger.address]) == before


def test_batched_erasure_direct_and_by_signature(world: World) -> None:
    alice, bob, stranger = patient_of("berase-alice"), patient_of("berase-bob"), patient_of("berase-stranger")
    world.grants((alice, CLINIC), (bob, CLINIC), (alice, LAB), (bob, LAB))
    records = [batched("be0", alice), batched("be1", bob), batched("be2", alice)]
    batch = RecordBatch(records)
    world.sender(CLINIC).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    a0, b1 = records[0], records[1]
    ids = [r.record_id for r in records]

    before = world.state(ids, [alice.address])
    expect(world.direct_refusal(stranger, world.fns.requestBatchedErasure(batch.root, a0.as_tuple(), batch.proof(0))), "NotRecordPatient", recordId=a0.record_id, account=stranger.address)
    expect(world.direct_refusal(alice, world.fns.requestBatchedErasure(batch.root, a0.as_tuple(), batch.proof(1))), "InvalidProof", root=batch.root, recordId=a0.record_id)
    unknown_root = keccak(text="no batch")
    expect(world.direct_refusal(alice, world.fns.requestBatchedErasure(unknown_root, a0.as_tuple(), batch.proof(0))), "UnknownBatch", root=unknown_root)
    assert world.state(ids, [alice.address]) == before

    receipt = world.direct(alice).transact(world.fns.requestBatchedErasure(batch.root, a0.as_tuple(), batch.proof(0)))
    assert world.events(receipt, "RecordErased") == [{"recordId": a0.record_id, "patient": alice.address, "batchRoot": batch.root}]
    f = world.fns
    assert f.isBatchedRecordErased(a0.as_tuple()).call() and not f.isBatchedRecordErased(records[2].as_tuple()).call()
    assert f.isBatchedLeafErased(f.batchLeaf(a0.as_entry()).call()).call()
    assert not f.isErased(a0.record_id).call() and tuple(f.getRecord(a0.record_id).call()) == (ZERO, 0, 0, False, ZERO), "isErased is for records anchored on their own"
    expect(world.direct_refusal(alice, world.fns.requestBatchedErasure(batch.root, a0.as_tuple(), batch.proof(0))), "RecordIsErased", recordId=a0.record_id)
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(batch.root, a0.as_tuple(), batch.proof(0), TREATMENT)), "RecordIsErased", recordId=a0.record_id)

    message = world.erasure_message(bob.address, b1.record_id)
    function = world.fns.requestBatchedErasureBySig(batch.root, b1.as_tuple(), batch.proof(1), 0, message.message["deadline"], message.sign(bob))
    world.direct(OUTSIDER)
    expect(world.mined_refusal(OUTSIDER, function, world.net.operator_w3), "NotActiveMember", account=OUTSIDER.address)
    assert not world.fns.isBatchedRecordErased(b1.as_tuple()).call() and world.fns.nonces(bob.address).call() == 0
    receipt = world.sender(LAB).transact(function)
    assert world.events(receipt, "RecordErased") == [{"recordId": b1.record_id, "patient": bob.address, "batchRoot": batch.root}]
    assert world.fns.nonces(bob.address).call() == 1
    # Another patient's signature over alice's record is refused.
    forged = world.erasure_message(alice.address, records[2].record_id, nonce=1).sign(bob)
    expect(world.mined_refusal(LAB, world.fns.requestBatchedErasureBySig(batch.root, records[2].as_tuple(), batch.proof(2), 1, world.now() + 600, forged)), "UnauthorizedSigner", patient=alice.address, signer=bob.address)
    # The remaining record is still readable.
    receipt = world.sender(LAB).transact(world.fns.batchedRecordAccessed(batch.root, records[2].as_tuple(), batch.proof(2), TREATMENT))
    assert world.events(receipt, "RecordsAccessed")[0]["recordIds"] == [records[2].record_id]


def test_batched_erasure_and_a_single_record_with_the_same_id_are_independent(world: World) -> None:
    # Batched markers are keyed by leaf, so an id also anchored on its own neither blocks the batched erasure
    # (a provider could otherwise pre-empt a patient's erasure by anchoring the id singly) nor is touched by it.
    patient = patient_of("berase-dup")
    world.grants((patient, CLINIC), (patient, LAB))
    single = record("berase-dup", patient)
    world.anchor(CLINIC, single)
    same = BatchRecord(record_id=single[0], patient=patient.address, category=ECG, content_hash=single[3], cid=single[4])
    batch = RecordBatch([same])
    world.sender(CLINIC).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    single_state = tuple(world.fns.getRecord(single[0]).call())
    receipt = world.direct(patient).transact(world.fns.requestBatchedErasure(batch.root, same.as_tuple(), []))
    assert world.events(receipt, "RecordErased") == [{"recordId": single[0], "patient": patient.address, "batchRoot": batch.root}]
    assert world.fns.isBatchedRecordErased(same.as_tuple()).call()
    assert tuple(world.fns.getRecord(single[0]).call()) == single_state and not world.fns.isErased(single[0]).call()
    world.sender(LAB).transact(world.fns.recordAccessed(single[0], TREATMENT))
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(batch.root, same.as_tuple(), [], TREATMENT)), "RecordIsErased", recordId=single[0])
    # And the other way round: erasing the single record leaves the batched marker as it was.
    world.direct(patient).transact(world.fns.requestErasure(single[0]))
    assert world.fns.isErased(single[0]).call() and world.fns.isBatchedRecordErased(same.as_tuple()).call()


def test_batched_erasure_covers_an_identical_copy_in_another_batch(world: World) -> None:
    # The marker binds the content (leaf), not the batch: re-anchoring the same record elsewhere does not revive it.
    patient = patient_of("berase-copy")
    world.grants((patient, CLINIC), (patient, LAB))
    kept, erased = batched("berase-copy-kept", patient), batched("berase-copy", patient)
    first, second = RecordBatch([erased, kept]), RecordBatch([erased])
    world.sender(CLINIC).transact_many([world.fns.anchorBatch(first.entries(), MANIFEST), world.fns.anchorBatch(second.entries(), MANIFEST)])
    world.direct(patient).transact(world.fns.requestBatchedErasure(second.root, erased.as_tuple(), []))
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(first.root, erased.as_tuple(), first.proof(0), TREATMENT)), "RecordIsErased", recordId=erased.record_id)
    expect(world.direct_refusal(patient, world.fns.requestBatchedErasure(first.root, erased.as_tuple(), first.proof(0))), "RecordIsErased", recordId=erased.record_id)
    world.sender(LAB).transact(world.fns.batchedRecordAccessed(first.root, kept.as_tuple(), first.proof(1), TREATMENT))


# --------------------------------------------------------------------------------------------------
# Access log
# --------------------------------------------------------------------------------------------------


def test_record_accessed_with_consent_logs_reader_consent_and_purpose(world: World) -> None:
    patient = patient_of("read")
    _, cid = world.grants((patient, CLINIC), (patient, LAB, {"purposes": TREATMENT | RESEARCH}))
    new = record("read", patient)
    world.anchor(CLINIC, new)
    receipt = world.sender(LAB).transact(world.fns.recordAccessed(new[0], RESEARCH))
    assert world.events(receipt, "RecordsAccessed") == [{"patient": patient.address, "reader": LAB.address, "consentId": cid, "purpose": RESEARCH, "recordIds": [new[0]]}]


@pytest.mark.parametrize("case", ["no-consent", "purpose-not-granted", "category-not-granted", "revoked", "data-period", "purpose-0", "purpose-3", "purpose-32", "unknown-record", "non-member"])
def test_record_accessed_refusals(world: World, case: str) -> None:
    patient = patient_of(f"read-refuse-{case}")
    world.grant(patient)
    new = record(f"read-refuse-{case}", patient)
    receipt = world.anchor(CLINIC, new)
    anchored_at = world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    record_id, purpose, reader = new[0], TREATMENT, LAB
    error: tuple[str, dict[str, Any]] = ("NoConsent", {"patient": patient.address, "grantee": LAB.address, "category": ECG, "purpose": TREATMENT})
    if case == "purpose-not-granted":
        world.grant(patient, grantee=LAB, purposes=RESEARCH)
    elif case == "category-not-granted":
        world.grant(patient, grantee=LAB, categories=1 << IMAGING)
    elif case == "revoked":
        world.grant(patient, grantee=LAB)
        world.revoke(patient, LAB)
    elif case == "data-period":  # the consent covers only data from after the record was anchored
        world.grant(patient, grantee=LAB, data_from=anchored_at + 1)
    elif case.startswith("purpose-"):
        world.grant(patient, grantee=LAB, purposes=31)
        purpose = int(case.split("-")[1])
        error = ("InvalidPurpose", {"purpose": purpose})
    elif case == "unknown-record":
        world.grant(patient, grantee=LAB)
        record_id, error = keccak(text="nope"), ("UnknownRecord", {"recordId": keccak(text="nope")})
    elif case == "non-member":
        reader, error = OUTSIDER, ("NotActiveMember", {"account": OUTSIDER.address})
    if case == "non-member":
        expect(world.direct_refusal(OUTSIDER, world.fns.recordAccessed(record_id, purpose)), error[0], **error[1])
        return
    expect(world.mined_refusal(reader, world.fns.recordAccessed(record_id, purpose)), error[0], **error[1])
    expect(world.mined_refusal(reader, world.fns.recordsAccessed([record_id], purpose)), error[0], **error[1])


def test_data_period_is_judged_at_the_record_anchoring_time(world: World) -> None:
    patient = patient_of("read-data-edge")
    world.grant(patient)
    new = record("read-data-edge", patient)
    receipt = world.anchor(CLINIC, new)
    anchored_at = world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    world.grant(patient, grantee=LAB, data_from=anchored_at, data_until=anchored_at + 1)  # [from, until) holds it exactly
    world.sender(LAB).transact(world.fns.recordAccessed(new[0], TREATMENT))
    world.grant(patient, grantee=LAB, data_from=0, data_until=anchored_at)
    expect(world.mined_refusal(LAB, world.fns.recordAccessed(new[0], TREATMENT)), "NoConsent")


def test_records_accessed_groups_runs_by_patient_and_is_all_or_nothing(world: World) -> None:
    alice, bob, carol = patient_of("runs-alice"), patient_of("runs-bob"), patient_of("runs-carol")
    *_, ca, cb = world.grants((alice, CLINIC), (bob, CLINIC), (carol, CLINIC), (alice, LAB), (bob, LAB))
    a1, a2, b1, a3, c1 = (record(label, p) for label, p in (("a1", alice), ("a2", alice), ("b1", bob), ("a3", alice), ("c1", carol)))
    world.sender(CLINIC).transact_many([world.fns.anchorRecord(r) for r in (a1, a2, b1, a3, c1)])
    receipt = world.sender(LAB).transact(world.fns.recordsAccessed([a1[0], a2[0], b1[0], a3[0]], TREATMENT))
    base = {"reader": LAB.address, "purpose": TREATMENT}
    assert world.events(receipt, "RecordsAccessed") == [
        base | {"patient": alice.address, "consentId": ca, "recordIds": [a1[0], a2[0]]},
        base | {"patient": bob.address, "consentId": cb, "recordIds": [b1[0]]},
        base | {"patient": alice.address, "consentId": ca, "recordIds": [a3[0]]},
    ]
    expect(world.mined_refusal(LAB, world.fns.recordsAccessed([a1[0], c1[0], b1[0]], TREATMENT)), "NoConsent", patient=carol.address)
    expect(world.mined_refusal(LAB, world.fns.recordsAccessed([], TREATMENT)), "InvalidBatchSize", size=0)


def test_batched_record_accessed_with_and_without_consent(world: World) -> None:
    alice, bob = patient_of("bread-alice"), patient_of("bread-bob")
    *_, cid = world.grants((alice, CLINIC), (bob, CLINIC), (alice, LAB))
    batch = RecordBatch([batched("br0", alice), batched("br1", bob)])
    world.sender(CLINIC).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    receipt = world.sender(LAB).transact(world.fns.batchedRecordAccessed(batch.root, batch.records[0].as_tuple(), batch.proof(0), TREATMENT))
    assert world.events(receipt, "RecordsAccessed") == [{"patient": alice.address, "reader": LAB.address, "consentId": cid, "purpose": TREATMENT, "recordIds": [batch.records[0].record_id]}]
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(batch.root, batch.records[1].as_tuple(), batch.proof(1), TREATMENT)), "NoConsent", patient=bob.address)
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(batch.root, batch.records[1].as_tuple(), batch.proof(0), TREATMENT)), "InvalidProof")
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(keccak(text="x"), batch.records[0].as_tuple(), batch.proof(0), TREATMENT)), "UnknownBatch")
    expect(world.mined_refusal(LAB, world.fns.batchedRecordAccessed(batch.root, batch.records[0].as_tuple(), batch.proof(0), 6)), "InvalidPurpose", purpose=6)


def test_emergency_reads_need_a_consent_that_covers_emergency(world: World) -> None:
    """Issue 13, 5a: the EMERGENCY role alone gives no reads, and a TREATMENT consent is not widened by calling a
    read EMERGENCY; only a consent that covers EMERGENCY (or a break-glass, in its own contract) does."""
    alice, bob = patient_of("er-alice"), patient_of("er-bob")
    *_, consented = world.grants((alice, CLINIC), (bob, CLINIC), (bob, RESCUE, {"purposes": EMERGENCY}))
    a1, b1 = record("er-a1", alice), record("er-b1", bob)
    world.sender(CLINIC).transact_many([world.fns.anchorRecord(a1), world.fns.anchorRecord(b1)])
    rescue = world.sender(RESCUE)

    expect(world.mined_refusal(RESCUE, world.fns.recordAccessed(a1[0], EMERGENCY)), "NoConsent", grantee=RESCUE.address, purpose=EMERGENCY)
    expect(world.mined_refusal(RESCUE, world.fns.recordsAccessed([b1[0], a1[0]], EMERGENCY)), "NoConsent", patient=alice.address, purpose=EMERGENCY)
    # The clinic's consents are for TREATMENT: an EMERGENCY read is refused all the same.
    expect(world.mined_refusal(CLINIC, world.fns.recordAccessed(a1[0], EMERGENCY)), "NoConsent", grantee=CLINIC.address, purpose=EMERGENCY)
    # A consent that covers EMERGENCY is named in the log.
    receipt = rescue.transact(world.fns.recordAccessed(b1[0], EMERGENCY))
    assert world.events(receipt, "RecordsAccessed") == [{"patient": bob.address, "reader": RESCUE.address, "consentId": consented, "purpose": EMERGENCY, "recordIds": [b1[0]]}]

    batch = RecordBatch([batched("er-batched", alice)])
    world.sender(CLINIC).transact(world.fns.anchorBatch(batch.entries(), MANIFEST))
    expect(world.mined_refusal(RESCUE, world.fns.batchedRecordAccessed(batch.root, batch.records[0].as_tuple(), batch.proof(0), EMERGENCY)), "NoConsent", purpose=EMERGENCY)


def test_revocation_binds_later_transactions_in_the_same_block(world: World) -> None:
    # ConsentLedger documents: a revocation is effective when it executes; transactions ordered before it in
    # its block used a consent still in force, those after it see it revoked. The clinic sends all four
    # (consecutive nonces fix the order) while the operator holds mining, then one block takes them all.
    patient = patient_of("same-block")
    world.grant(patient)
    first = record("same-block-1", patient)
    world.anchor(CLINIC, first)
    revoke = world.consents.revoke_message(patient.address, CLINIC.address, deadline=world.now() + 600)
    m = revoke.message
    calls = [
        world.fns.recordAccessed(first[0], TREATMENT),
        world.consents.contract.functions.revokeConsentBySig(m["patient"], m["grantee"], m["nonce"], m["deadline"], revoke.sign(patient)),
        world.fns.recordAccessed(first[0], TREATMENT),
        world.fns.anchorRecord(record("same-block-2", patient)),
    ]
    nonce = world.w3.eth.get_transaction_count(CLINIC.address, "pending")
    world.operator("evm_setAutomine", [False])
    try:
        hashes = [world.w3.eth.send_raw_transaction(raw_transaction(world.w3, CLINIC, call, nonce + index)) for index, call in enumerate(calls)]
        world.operator("evm_mine")
    finally:
        world.operator("evm_setAutomine", [True])
    receipts = [world.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["transactionIndex"] for r in receipts] == [0, 1, 2, 3]
    assert [r["status"] for r in receipts] == [1, 1, 0, 0]
    assert world.events(receipts[0], "RecordsAccessed")[0]["recordIds"] == [first[0]]


def test_erasing_a_colliding_id_in_another_batch_leaves_the_victims_record_readable(world: World) -> None:
    victim, sybil = patient_of("collide-victim"), patient_of("collide-sybil")
    world.grants((victim, CLINIC), (sybil, LAB), (victim, LAB))
    genuine = batched("collide", victim)
    first = RecordBatch([genuine])
    world.sender(CLINIC).transact(world.fns.anchorBatch(first.entries(), MANIFEST))
    # Batch record ids are not unique on chain: a provider re-uses the public id under a patient it controls.
    copy = BatchRecord(record_id=genuine.record_id, patient=sybil.address, category=ECG, content_hash=keccak(text="other"), cid=b"\x01other")
    second = RecordBatch([copy])
    world.sender(LAB).transact(world.fns.anchorBatch(second.entries(), MANIFEST))
    world.direct(sybil).transact(world.fns.requestBatchedErasure(second.root, copy.as_tuple(), []))
    world.sender(LAB).transact(world.fns.batchedRecordAccessed(first.root, genuine.as_tuple(), [], TREATMENT))
    assert world.fns.isBatchedRecordErased(copy.as_tuple()).call() and not world.fns.isBatchedRecordErased(genuine.as_tuple()).call()
    assert not world.fns.isErased(genuine.record_id).call()
    # The id is not blocked either: it can still be anchored on its own, and the victim can still erase its record.
    world.sender(CLINIC).transact(world.fns.anchorRecord((genuine.record_id, victim.address, ECG, genuine.content_hash, genuine.cid, ZERO32)))
    assert world.fns.getRecord(genuine.record_id).call()[0] == victim.address
    world.direct(victim).transact(world.fns.requestBatchedErasure(first.root, genuine.as_tuple(), []))
    assert world.fns.isBatchedRecordErased(genuine.as_tuple()).call() and not world.fns.isErased(genuine.record_id).call()
