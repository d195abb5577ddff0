"""The contracts' EIP-712 digests equal eth-account's for arbitrary inputs, for every signed type.

Neither contract exposes a struct-hash view, so each property signs a `TypedMessage` (the project's wallet
types) with a random key and lets the contract judge it by eth_call from an active member: the call must end
exactly as the contract's checks *after* signature recovery predict (success, or a nonce / terms / unknown-
batch error). A digest mismatch would recover another address and end in UnauthorizedActor / UnauthorizedSigner
instead. No transaction is sent by the properties; the module admits one provider once (snapshot/revert).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from ledger.chain import Ledger
from ledger.consent import GRANT_CONSENT_TYPES, REGISTER_PATIENT_TYPES, REVOKE_CONSENT_TYPES, SET_DELEGATE_TYPES
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ContractRevert
from ledger.records import REQUEST_ERASURE_TYPES, UPLOAD_AUTHORIZATION_TYPES
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc
from tests.support.chain_clock import take_snapshot, revert_snapshot

FAST = settings(max_examples=20, deadline=None)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CLINIC = throwaway_account("eip712/clinic")  # PROVIDER member: relays and authors
BASE_PATIENT = throwaway_account("eip712/base-patient")  # owns one anchored record, so `supersedes` can be non-zero
ZERO = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
MAX_KEY = 1300

TYPE_CONSTANTS = {
    ("ConsentLedger", "REGISTER_PATIENT_TYPEHASH"): REGISTER_PATIENT_TYPES,
    ("ConsentLedger", "GRANT_CONSENT_TYPEHASH"): GRANT_CONSENT_TYPES,
    ("ConsentLedger", "REVOKE_CONSENT_TYPEHASH"): REVOKE_CONSENT_TYPES,
    ("ConsentLedger", "SET_DELEGATE_TYPEHASH"): SET_DELEGATE_TYPES,
    ("RecordRegistry", "UPLOAD_AUTHORIZATION_TYPEHASH"): UPLOAD_AUTHORIZATION_TYPES,
    ("RecordRegistry", "REQUEST_ERASURE_TYPEHASH"): REQUEST_ERASURE_TYPES,
}

keys = st.integers(1, SECP256K1_N - 1).map(lambda k: Account.from_key(k.to_bytes(32, "big")))
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
bytes32 = st.binary(min_size=32, max_size=32)
nonzero32 = bytes32.filter(lambda b: b != ZERO32)
uint40 = st.integers(0, 2**40 - 1)
nonces = st.one_of(st.just(0), st.just(0), st.integers(0, 2**256 - 1))
# Any deadline past every uint40 timestamp is live; expiry edges are tested separately below.
deadlines = st.integers(2**40, 2**256 - 1)


def type_string(types: dict[str, list[dict[str, str]]]) -> str:
    ((name, fields),) = types.items()
    members = ",".join(field["type"] + " " + field["name"] for field in fields)
    return f"{name}({members})"


@dataclass
class Signing:
    ledger: Ledger
    consent: Contract
    records: Contract
    clinic: TransactionSender
    base_record: tuple[bytes, str, int, bytes, bytes, bytes]
    consent_domain: Domain
    records_domain: Domain
    separators: dict[str, bytes]

    def outcome(self, function: Any) -> tuple[str, dict[str, Any]] | Any:
        """The call's result, or (error name, args) when the contract refuses it."""
        try:
            return self.clinic.call(function)
        except ContractRevert as refusal:
            return refusal.name, {k: (v.lower() if isinstance(v, str) else v) for k, v in refusal.args_by_name.items()}

    def now(self) -> int:
        return int(self.ledger.w3.eth.get_block("latest")["timestamp"])


def _refusal(name: str, **args: Any) -> tuple[str, dict[str, Any]]:
    return name, {k: (v.lower() if isinstance(v, str) else v) for k, v in args.items()}


@pytest.fixture(scope="module")
def signing(local_network: RunningNetwork) -> Iterator[Signing]:
    governor = local_network.governors[0].address
    rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": governor, "to": governor}])  # fund before the snapshot
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        ledger = local_network.ledger()
        registry = ConsortiumRegistry(ledger)
        application = MemberApplication(address=CLINIC.address, name="EIP-712 Clinic", country="CN", roles=["PROVIDER"], hpke_public_key=b"\x02" * 32)
        assert registry.approve(ledger.sender(local_network.governors[1]), registry.propose_admission(ledger.sender(local_network.governors[0]), application))
        records = ledger.contract("RecordRegistry")
        base = (keccak(text="base"), BASE_PATIENT.address, 2, keccak(text="base-sha"), b"\x01\x55" + keccak(text="base-cid"), ZERO32)
        message = _upload(Domain.of(records), base, CLINIC.address, 0, 2**64)
        clinic = ledger.sender(CLINIC)
        clinic.transact(records.functions.anchorRecordWithAuthorization(base, 0, 2**64, message.sign(BASE_PATIENT)))
        consent = ledger.contract("ConsentLedger")
        separators = {"ConsentLedger": bytes(consent.functions.DOMAIN_SEPARATOR().call()), "RecordRegistry": bytes(records.functions.DOMAIN_SEPARATOR().call())}
        yield Signing(ledger, consent, records, clinic, base, Domain.of(consent), Domain.of(records), separators)
    finally:
        revert_snapshot(operator, snapshot)


def _upload(domain: Domain, record: tuple[Any, ...], author: str, nonce: int, deadline: int) -> TypedMessage:
    record_id, patient, category, content_hash, cid, supersedes = record
    fields = {"patient": patient, "author": author, "recordId": record_id, "category": category, "contentHash": content_hash, "cid": cid, "supersedes": supersedes, "nonce": nonce, "deadline": deadline}
    return TypedMessage(domain, "UploadAuthorization", UPLOAD_AUTHORIZATION_TYPES, fields)


def _solidity_digest(domain_separator: bytes, types: list[str], values: list[Any]) -> bytes:
    """keccak256("\\x19\\x01" ‖ domainSeparator ‖ keccak256(abi.encode(...))) as the contract computes it."""
    return keccak(b"\x19\x01" + domain_separator + keccak(encode(types, values)))


# --------------------------------------------------------------------------------------------------
# Type hashes and domains
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("contract", "constant"), list(TYPE_CONSTANTS))
def test_wallet_types_hash_to_the_contract_typehash(signing: Signing, contract: str, constant: str) -> None:
    bound = signing.consent if contract == "ConsentLedger" else signing.records
    expected = bytes(getattr(bound.functions, constant)().call())
    assert keccak(text=type_string(TYPE_CONSTANTS[(contract, constant)])) == expected


@pytest.mark.parametrize(("contract", "name"), [("ConsentLedger", "healthsilk ConsentLedger"), ("RecordRegistry", "healthsilk RecordRegistry")])
def test_domain_separator_matches_the_declared_domain(signing: Signing, contract: str, name: str) -> None:
    bound = signing.consent if contract == "ConsentLedger" else signing.records
    domain = Domain.of(bound)
    chain_id = signing.ledger.w3.eth.chain_id
    assert (domain.name, domain.version, domain.chain_id, domain.verifying_contract) == (name, "1", chain_id, bound.address)
    type_hash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"], [type_hash, keccak(text=name), keccak(text="1"), chain_id, bound.address]))
    assert bytes(bound.functions.DOMAIN_SEPARATOR().call()) == expected


# --------------------------------------------------------------------------------------------------
# Properties: one per signed type
# --------------------------------------------------------------------------------------------------


@FAST
@given(account=keys, key=st.binary(max_size=MAX_KEY + 40), nonce=nonces, deadline=deadlines)
def test_register_patient_digest(signing: Signing, account: LocalAccount, key: bytes, nonce: int, deadline: int) -> None:
    message = TypedMessage(signing.consent_domain, "RegisterPatient", REGISTER_PATIENT_TYPES, {"patient": account.address, "hpkePublicKey": key, "nonce": nonce, "deadline": deadline})
    separator = signing.separators["ConsentLedger"]
    type_hash = keccak(text=type_string(REGISTER_PATIENT_TYPES))
    assert message.digest() == _solidity_digest(separator, ["bytes32", "address", "bytes32", "uint256", "uint256"], [type_hash, account.address, keccak(key), nonce, deadline])
    result = signing.outcome(signing.consent.functions.registerPatientBySig(account.address, key, nonce, deadline, message.sign(account)))
    if nonce != 0:
        assert result == _refusal("InvalidAccountNonce", account=account.address, currentNonce=0)
    elif not 0 < len(key) <= MAX_KEY:
        assert result == _refusal("InvalidPublicKey", length=len(key))
    else:
        assert result == []


@FAST
@given(
    account=keys, grantee=st.one_of(st.just(CLINIC.address), st.just(ZERO), addresses), categories=st.integers(0, 2**16 - 1),
    purposes=st.integers(0, 255), valid_from=uint40, valid_until=uint40, data_from=uint40, data_until=st.one_of(st.just(0), uint40),
    nonce=nonces, deadline=deadlines,
)
def test_grant_consent_digest(
    signing: Signing, account: LocalAccount, grantee: str, categories: int, purposes: int, valid_from: int, valid_until: int, data_from: int, data_until: int, nonce: int, deadline: int
) -> None:
    terms = {"grantee": grantee, "categories": categories, "purposes": purposes, "validFrom": valid_from, "validUntil": valid_until, "dataFrom": data_from, "dataUntil": data_until}
    message = TypedMessage(signing.consent_domain, "GrantConsent", GRANT_CONSENT_TYPES, {"patient": account.address, **terms, "nonce": nonce, "deadline": deadline})
    result = signing.outcome(signing.consent.functions.grantConsentBySig(account.address, tuple(terms.values()), nonce, deadline, message.sign(account)))
    now = signing.now()
    if nonce != 0:
        expected: Any = _refusal("InvalidAccountNonce", account=account.address, currentNonce=0)
    elif grantee == ZERO:
        expected = _refusal("InvalidGrantee", grantee=ZERO)
    elif categories == 0:
        expected = _refusal("InvalidCategories", categories=0)
    elif purposes == 0 or purposes > 31:
        expected = _refusal("InvalidPurposes", purposes=purposes)
    elif valid_from >= valid_until or valid_until <= now:
        expected = _refusal("InvalidValidityPeriod", validFrom=valid_from, validUntil=valid_until)
    elif data_until != 0 and data_from >= data_until:
        expected = _refusal("InvalidDataPeriod", dataFrom=data_from, dataUntil=data_until)
    elif grantee != CLINIC.address:
        expected = _refusal("InvalidGrantee", grantee=grantee)
    else:
        expected = keccak(encode(["address", "address", "uint32"], [account.address, grantee, 1]))
    assert result == expected


@FAST
@given(account=keys, grantee=addresses, nonce=nonces, deadline=deadlines)
def test_revoke_consent_digest(signing: Signing, account: LocalAccount, grantee: str, nonce: int, deadline: int) -> None:
    message = TypedMessage(signing.consent_domain, "RevokeConsent", REVOKE_CONSENT_TYPES, {"patient": account.address, "grantee": grantee, "nonce": nonce, "deadline": deadline})
    result = signing.outcome(signing.consent.functions.revokeConsentBySig(account.address, grantee, nonce, deadline, message.sign(account)))
    # Past the signature check, a fresh patient has nothing to revoke.
    expected = _refusal("InvalidAccountNonce", account=account.address, currentNonce=0) if nonce else _refusal("NoActiveConsent", patient=account.address, grantee=grantee)
    assert result == expected


@FAST
@given(account=keys, delegate=st.one_of(st.just(ZERO), st.just(None), addresses), nonce=nonces, deadline=deadlines)
def test_set_delegate_digest(signing: Signing, account: LocalAccount, delegate: str | None, nonce: int, deadline: int) -> None:
    delegate = delegate or account.address  # None stands for "the patient itself"
    message = TypedMessage(signing.consent_domain, "SetDelegate", SET_DELEGATE_TYPES, {"patient": account.address, "delegate": delegate, "nonce": nonce, "deadline": deadline})
    result = signing.outcome(signing.consent.functions.setDelegateBySig(account.address, delegate, nonce, deadline, message.sign(account)))
    if nonce != 0:
        assert result == _refusal("InvalidAccountNonce", account=account.address, currentNonce=0)
    elif delegate == ZERO:
        assert result == _refusal("NoDelegate", patient=account.address)
    elif delegate == account.address:
        assert result == _refusal("InvalidDelegate", delegate=account.address)
    else:
        assert result == []


@FAST
@given(
    account=keys, record_id=nonzero32, category=st.integers(0, 15), content_hash=nonzero32, cid=st.binary(min_size=1, max_size=128),
    supersede=st.booleans(), nonce=nonces, deadline=deadlines,
)
def test_upload_authorization_digest(
    signing: Signing, account: LocalAccount, record_id: bytes, category: int, content_hash: bytes, cid: bytes, supersede: bool, nonce: int, deadline: int
) -> None:
    # `supersedes` must name a record of the same patient (checked before the signature), so that case signs as its owner.
    signer, supersedes = (BASE_PATIENT, signing.base_record[0]) if supersede else (account, ZERO32)
    record = (record_id, signer.address, category, content_hash, cid, supersedes)
    message = _upload(signing.records_domain, record, CLINIC.address, nonce, deadline)
    result = signing.outcome(signing.records.functions.anchorRecordWithAuthorization(record, nonce, deadline, message.sign(signer)))
    current = 1 if supersede else 0  # BASE_PATIENT used nonce 0 to anchor the base record
    assert result == ([] if nonce == current else _refusal("InvalidAccountNonce", account=signer.address, currentNonce=current))


@FAST
@given(
    account=keys, root=bytes32, record_id=bytes32, category=st.integers(0, 255), content_hash=bytes32, cid=st.binary(max_size=64),
    proof=st.lists(bytes32, max_size=3), nonce=nonces, deadline=deadlines,
)
def test_request_erasure_digest(
    signing: Signing, account: LocalAccount, root: bytes, record_id: bytes, category: int, content_hash: bytes, cid: bytes, proof: list[bytes], nonce: int, deadline: int
) -> None:
    # The batched variant checks the signature before looking the batch up, so any record id will do:
    # a matching digest gets as far as UnknownBatch.
    message = TypedMessage(signing.records_domain, "RequestErasure", REQUEST_ERASURE_TYPES, {"patient": account.address, "recordId": record_id, "nonce": nonce, "deadline": deadline})
    separator = signing.separators["RecordRegistry"]
    type_hash = keccak(text=type_string(REQUEST_ERASURE_TYPES))
    assert message.digest() == _solidity_digest(separator, ["bytes32", "address", "bytes32", "uint256", "uint256"], [type_hash, account.address, record_id, nonce, deadline])
    batched = (record_id, account.address, category, content_hash, cid)
    result = signing.outcome(signing.records.functions.requestBatchedErasureBySig(root, batched, proof, nonce, deadline, message.sign(account)))
    assert result == (_refusal("UnknownBatch", root=root) if nonce == 0 else _refusal("InvalidAccountNonce", account=account.address, currentNonce=0))


@FAST
@given(nonce=nonces, deadline=deadlines)
def test_request_erasure_digest_for_a_record_anchored_on_its_own(signing: Signing, nonce: int, deadline: int) -> None:
    # The single-record variant reads the patient from the stored record, so it signs as the base record's
    # patient (nonce 0 went on the upload authorisation): a matching digest ends in success or a nonce error.
    record_id = signing.base_record[0]
    message = TypedMessage(signing.records_domain, "RequestErasure", REQUEST_ERASURE_TYPES, {"patient": BASE_PATIENT.address, "recordId": record_id, "nonce": nonce, "deadline": deadline})
    result = signing.outcome(signing.records.functions.requestErasureBySig(record_id, nonce, deadline, message.sign(BASE_PATIENT)))
    assert result == ([] if nonce == 1 else _refusal("InvalidAccountNonce", account=BASE_PATIENT.address, currentNonce=1))


@FAST
@given(account=keys, known=st.booleans(), record_id=bytes32, root=bytes32)
def test_erasure_relays_check_membership_before_the_record(signing: Signing, account: LocalAccount, known: bool, record_id: bytes, root: bytes) -> None:
    # A non-member's refusal says nothing about whether the record or batch exists.
    outsider = TransactionSender(signing.ledger.w3, account, signing.ledger.decoder)
    record_id = signing.base_record[0] if known else record_id
    message = TypedMessage(signing.records_domain, "RequestErasure", REQUEST_ERASURE_TYPES, {"patient": account.address, "recordId": record_id, "nonce": 0, "deadline": 2**64})
    signature = message.sign(account)
    batched = (record_id, account.address, 2, record_id, b"\x01")
    for function in (
        signing.records.functions.requestErasureBySig(record_id, 0, 2**64, signature),
        signing.records.functions.requestBatchedErasureBySig(root, batched, [], 0, 2**64, signature),
    ):
        with pytest.raises(ContractRevert) as info:
            outsider.call(function)
        assert (info.value.name, info.value.args_by_name["account"].lower()) == ("NotActiveMember", account.address.lower())


# --------------------------------------------------------------------------------------------------
# Negative controls and deadline edges (eth_call at an exactly-known block timestamp)
# --------------------------------------------------------------------------------------------------


def test_a_changed_field_recovers_someone_else(signing: Signing) -> None:
    patient = throwaway_account("eip712/control")
    signed = TypedMessage(signing.consent_domain, "SetDelegate", SET_DELEGATE_TYPES, {"patient": patient.address, "delegate": CLINIC.address, "nonce": 0, "deadline": 2**64})
    signature = signed.sign(patient)
    assert signing.outcome(signing.consent.functions.setDelegateBySig(patient.address, CLINIC.address, 0, 2**64, signature)) == []
    name, args = signing.outcome(signing.consent.functions.setDelegateBySig(patient.address, CLINIC.address, 0, 2**64 + 1, signature))
    assert name == "UnauthorizedActor" and args["patient"] == patient.address.lower() and args["actor"] != patient.address.lower()


def test_deadline_is_the_last_valid_timestamp(signing: Signing) -> None:
    # eth_call at "latest" runs with the latest block's timestamp, so the edge is exact without mining.
    patient = throwaway_account("eip712/deadline")
    now = signing.now()
    for deadline, accepted in ((now, True), (now - 1, False)):
        message = TypedMessage(signing.consent_domain, "RegisterPatient", REGISTER_PATIENT_TYPES, {"patient": patient.address, "hpkePublicKey": b"\x01", "nonce": 0, "deadline": deadline})
        result = signing.outcome(signing.consent.functions.registerPatientBySig(patient.address, b"\x01", 0, deadline, message.sign(patient)))
        assert result == ([] if accepted else _refusal("ExpiredSignature", deadline=deadline))
        erasure = TypedMessage(signing.records_domain, "RequestErasure", REQUEST_ERASURE_TYPES, {"patient": patient.address, "recordId": ZERO32, "nonce": 0, "deadline": deadline})
        batched = (ZERO32, patient.address, 0, ZERO32, b"")
        result = signing.outcome(signing.records.functions.requestBatchedErasureBySig(ZERO32, batched, [], 0, deadline, erasure.sign(patient)))
        assert result == (_refusal("UnknownBatch", root=ZERO32) if accepted else _refusal("ExpiredSignature", deadline=deadline))
