"""ConsentLedger: patient keys, consents and delegates, sent directly or signed (EIP-712) and relayed.

Relayed calls go through the permissioning gateway as clients send them. The contract's *direct* path (the
patient or its delegate sends the transaction itself) is exercised on the operator's private port: patients
are not consortium members, so the gateway would refuse their raw transactions before the contract saw them.
Every refusal is mined where possible (no gas estimation) and followed by a check that state is unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError
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
from ledger.consent import GRANT_CONSENT_TYPES, ConsentLedger, ConsentTerms
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ContractRevert
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender, revert_data
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.rpc import rpc
from tests.support.chain_clock import take_snapshot, revert_snapshot

CLINIC = throwaway_account("consent-ledger/clinic")  # PROVIDER member: the usual relayer and grantee
LAB = throwaway_account("consent-ledger/lab")  # PROVIDER member: a second grantee
OUTSIDER = throwaway_account("consent-ledger/outsider")  # not a member
ZERO = "0x" + "00" * 20
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ECG, LAB_CAT, IMAGING = Category.ECG.bit, Category.LAB.bit, Category.IMAGING.bit
TREATMENT, PAYMENT, RESEARCH = int(Purpose.TREATMENT), int(Purpose.PAYMENT), int(Purpose.RESEARCH)
NONE, ACTIVE, REVOKED = 0, 1, 2
GAS = 1_000_000


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def members(local_network: RunningNetwork) -> Iterator[None]:
    """Admit two PROVIDER members for this module only (snapshot/revert around the whole module)."""
    governor = local_network.governors[0].address
    # Let the gateway fund the governors before the snapshot (it funds on the first gas request it sees).
    rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": governor, "to": governor}])
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        ledger = local_network.ledger()
        admit(ledger, local_network.governors, [(CLINIC, "PROVIDER"), (LAB, "PROVIDER")])
        rpc(local_network.settings.gateway_url, "eth_estimateGas", [{"from": CLINIC.address, "to": CLINIC.address}])  # fund them now
        assert all(ledger.w3.eth.get_balance(a.address) > 0 for a in (CLINIC, LAB))
        yield
    finally:
        revert_snapshot(operator, snapshot)


def admit(ledger: Ledger, governors: list[LocalAccount], accounts: list[tuple[LocalAccount, str]]) -> None:
    """Governor 0 proposes every admission, governor 1's vote executes each (quorum 2); the gateway funds them."""
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(governors[0]), ledger.sender(governors[1])
    ids = [
        registry.propose_admission(proposer, MemberApplication(address=a.address, name=f"Member {a.address[:8]}", country="BJ", roles=[role], hpke_public_key=b"\x02" * 32))
        for a, role in accounts
    ]
    assert all(registry.approve(approver, proposal_id) for proposal_id in ids)


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    consents: ConsentLedger
    contract: Contract
    clinic: TransactionSender

    @property
    def fns(self) -> Any:
        return self.contract.functions

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def operator(self, method: str, params: list[Any] | None = None) -> Any:
        return self.net.operator_w3.provider.make_request(method, params or [])  # type: ignore[arg-type]

    def direct(self, account: LocalAccount) -> TransactionSender:
        """A sender on the operator's private port: the gateway refuses raw transactions from non-members,
        so this is the only way to exercise the contract's direct (patient-sent) path."""
        self.operator("anvil_setBalance", [account.address, hex(10**18)])
        return TransactionSender(self.net.operator_w3, account, self.ledger.decoder)

    def terms(self, grantee: str = CLINIC.address, **overrides: int) -> ConsentTerms:
        now = self.now()
        fields: dict[str, Any] = {"categories": ECG | LAB_CAT, "purposes": TREATMENT | PAYMENT, "valid_from": now - 60, "valid_until": now + 3600} | overrides
        return ConsentTerms(grantee=grantee, **fields)

    def grant(self, patient: LocalAccount, terms: ConsentTerms | None = None, signer: LocalAccount | None = None) -> tuple[bytes, TxReceipt]:
        """Relayed grant signed by the patient (or `signer`, its delegate); returns (consent id, receipt)."""
        message = self.consents.grant_message(patient.address, terms or self.terms(), deadline=self.now() + 600, signer=(signer or patient).address)
        receipt = self.clinic.transact(self.call_for(message, message.sign(signer or patient)))
        return bytes(self.events(receipt, "ConsentGranted")[0]["consentId"]), receipt

    def call_for(self, message: TypedMessage, signature: bytes) -> ContractFunction:
        """The BySig call relaying `message` (the same mapping as ConsentLedger.relay, without sending)."""
        m, f = message.message, self.fns
        if message.primary_type == "RegisterPatient":
            return f.registerPatientBySig(m["patient"], m["hpkePublicKey"], m["nonce"], m["deadline"], signature)
        if message.primary_type == "GrantConsent":
            terms = (m["grantee"], m["categories"], m["purposes"], m["validFrom"], m["validUntil"], m["dataFrom"], m["dataUntil"])
            return f.grantConsentBySig(m["patient"], terms, m["nonce"], m["deadline"], signature)
        if message.primary_type == "RevokeConsent":
            return f.revokeConsentBySig(m["patient"], m["grantee"], m["nonce"], m["deadline"], signature)
        assert message.primary_type == "SetDelegate"
        return f.setDelegateBySig(m["patient"], m["delegate"], m["nonce"], m["deadline"], signature)

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        return [dict(e["args"]) for e in getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD) if e["address"] == self.contract.address]

    def permitted(self, patient: str, grantee: str, category: int, purpose: int, block: int | str = "latest") -> bool:
        return bool(self.fns.isPermitted(patient, grantee, category, purpose).call(block_identifier=block))

    def state(self, accounts: list[str], grantees: list[str] = [CLINIC.address, LAB.address]) -> list[Any]:  # noqa: B006
        """Everything a refused call could have touched, for these accounts (one batched round trip)."""
        f = self.fns
        with self.w3.batch_requests() as batch:
            for account in accounts:
                batch.add(f.nonces(account))
                batch.add(f.delegateOf(account))
                batch.add(f.patientKey(account))
                for grantee in grantees:
                    batch.add(f.packedConsent(account, grantee))
            return list(batch.execute())

    def direct_refusal(self, account: LocalAccount, function: ContractFunction) -> ContractRevert:
        """A refused direct call by a non-member, mined on the private port (the gateway would refuse it)."""
        self.direct(account)
        return self.mined_refusal(account, function, self.net.operator_w3)

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


@pytest.fixture
def world(members: None, chain: RunningNetwork) -> World:
    ledger = chain.ledger()
    consents = ConsentLedger(ledger)
    return World(chain, ledger, consents, consents.contract, ledger.sender(CLINIC))


def raw_transaction(w3: Web3, account: LocalAccount, function: ContractFunction) -> bytes:
    """`function` signed by `account` with a fixed gas limit (no estimation, so a revert gets mined)."""
    tx = {
        "to": function.address, "data": function._encode_transaction_data(), "value": 0, "gas": GAS, "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"), "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


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


def new_patient(label: str) -> LocalAccount:
    return throwaway_account(f"consent-ledger/{label}")


def test_views_and_limits(world: World) -> None:
    f = world.fns
    assert f.registry().call() == world.ledger.deployments.address_of("ConsortiumRegistry")
    assert f.MAX_PUBLIC_KEY_LENGTH().call() == 1300
    nobody = new_patient("nobody")
    assert tuple(f.getConsent(nobody.address, CLINIC.address).call()) == (0, 0, NONE, 0, 0, 0, 0, 0)
    assert f.packedConsent(nobody.address, CLINIC.address).call() == 0
    assert (f.patientKey(nobody.address).call(), f.isRegistered(nobody.address).call(), f.delegateOf(nobody.address).call()) == (b"", False, ZERO)


# --------------------------------------------------------------------------------------------------
# Patient directory
# --------------------------------------------------------------------------------------------------


def test_register_patient_direct_stores_and_replaces_the_key(world: World) -> None:
    patient = new_patient("register-direct")
    assert not world.fns.isRegistered(patient.address).call()
    sender = world.direct(patient)
    receipt = sender.transact(world.fns.registerPatient(b"\x01" * 1300))  # the maximum length is accepted
    assert world.events(receipt, "PatientRegistered") == [{"patient": patient.address, "hpkePublicKey": b"\x01" * 1300}]
    receipt = sender.transact(world.fns.registerPatient(b"\x02" * 32))
    assert world.events(receipt, "PatientRegistered")[0]["hpkePublicKey"] == b"\x02" * 32
    assert world.consents.patient_key(patient.address) == b"\x02" * 32 and world.fns.isRegistered(patient.address).call()


@pytest.mark.parametrize("length", [0, 1301])
def test_register_patient_refuses_bad_key_lengths(world: World, length: int) -> None:
    patient = new_patient(f"register-bad-{length}")
    before = world.state([patient.address])
    expect(world.direct_refusal(patient, world.fns.registerPatient(b"\x03" * length)), "InvalidPublicKey", length=length)
    message = world.consents.register_message(patient.address, b"\x03" * length, deadline=world.now() + 600)
    expect(world.mined_refusal(CLINIC, world.call_for(message, message.sign(patient))), "InvalidPublicKey", length=length)
    assert world.state([patient.address]) == before  # nonce not consumed either


def test_register_patient_by_signature_consumes_the_nonce(world: World) -> None:
    patient = new_patient("register-sig")
    message = world.consents.register_message(patient.address, b"\x04" * 65, deadline=world.now() + 600)
    assert message.message["nonce"] == 0
    receipt = world.clinic.transact(world.call_for(message, message.sign(patient)))
    assert world.events(receipt, "PatientRegistered") == [{"patient": patient.address, "hpkePublicKey": b"\x04" * 65}]
    assert world.consents.patient_key(patient.address) == b"\x04" * 65
    assert world.consents.nonce(patient.address) == 1


# --------------------------------------------------------------------------------------------------
# Grants and revocations
# --------------------------------------------------------------------------------------------------


def test_direct_grant_by_patient_stores_packs_and_emits_everything(world: World) -> None:
    patient = new_patient("grant-direct")
    terms = world.terms(categories=ECG | IMAGING, purposes=TREATMENT | RESEARCH, data_from=1000, data_until=2000)
    assert world.fns.currentConsentId(patient.address, CLINIC.address).call() == b"\x00" * 32
    receipt = world.direct(patient).transact(world.fns.grantConsent(patient.address, terms.as_tuple()))
    expected_id = consent_id(patient.address, CLINIC.address, 1)
    assert world.events(receipt, "ConsentGranted") == [{
        "patient": patient.address, "grantee": CLINIC.address, "consentId": expected_id, "version": 1,
        "categories": ECG | IMAGING, "purposes": TREATMENT | RESEARCH, "validFrom": terms.valid_from, "validUntil": terms.valid_until,
        "dataFrom": 1000, "dataUntil": 2000, "actor": patient.address,
    }]
    assert tuple(world.fns.getConsent(patient.address, CLINIC.address).call()) == (ECG | IMAGING, TREATMENT | RESEARCH, ACTIVE, terms.valid_from, terms.valid_until, 1000, 2000, 1)
    # ConsentPolicy.pack layout: categories 0-15 | purposes 16-23 | status 24-31 | validFrom 32-71 | validUntil 72-111 |
    # dataFrom 112-151 | dataUntil 152-191 | version 192-223 (RecordRegistry decodes this word itself).
    packed = (ECG | IMAGING) | (TREATMENT | RESEARCH) << 16 | ACTIVE << 24 | terms.valid_from << 32 | terms.valid_until << 72 | 1000 << 112 | 2000 << 152 | 1 << 192
    assert world.fns.packedConsent(patient.address, CLINIC.address).call() == packed
    assert world.fns.currentConsentId(patient.address, CLINIC.address).call() == expected_id


def test_grant_by_signature_names_the_patient_as_actor_and_consumes_its_nonce(world: World) -> None:
    patient = new_patient("grant-sig")
    cid, receipt = world.grant(patient)
    (event,) = world.events(receipt, "ConsentGranted")
    assert event["actor"] == patient.address and event["version"] == 1 and cid == consent_id(patient.address, CLINIC.address, 1)
    assert world.consents.nonce(patient.address) == 1
    assert world.consents.nonce(CLINIC.address) == 0, "the relayer's nonce is not the signer's"
    assert world.permitted(patient.address, CLINIC.address, ECG, TREATMENT)


def test_replacement_grant_bumps_version_and_consent_id(world: World) -> None:
    patient = new_patient("replace")
    first, _ = world.grant(patient)
    second, _ = world.grant(patient, world.terms(categories=IMAGING, purposes=RESEARCH))
    assert first != second == consent_id(patient.address, CLINIC.address, 2)
    consent = world.consents.consent(patient.address, CLINIC.address)
    assert (consent.version, consent.categories, consent.purposes, consent.status) == (2, ["IMAGING"], ["RESEARCH"], "ACTIVE")
    assert not world.permitted(patient.address, CLINIC.address, ECG, TREATMENT), "the replaced terms no longer apply"
    # A grant after a revocation re-activates with the next version.
    world.direct(patient).transact(world.fns.revokeConsent(patient.address, CLINIC.address))
    third, _ = world.grant(patient)
    assert third == consent_id(patient.address, CLINIC.address, 3)
    assert world.consents.consent(patient.address, CLINIC.address).status == "ACTIVE"
    # Versions count per (patient, grantee) pair.
    other, _ = world.grant(patient, world.terms(grantee=LAB.address))
    assert other == consent_id(patient.address, LAB.address, 1)


def test_direct_revoke_keeps_terms_and_version(world: World) -> None:
    patient = new_patient("revoke-direct")
    cid, _ = world.grant(patient)
    before = world.fns.getConsent(patient.address, CLINIC.address).call()
    receipt = world.direct(patient).transact(world.fns.revokeConsent(patient.address, CLINIC.address))
    assert world.events(receipt, "ConsentRevoked") == [{"patient": patient.address, "grantee": CLINIC.address, "consentId": cid, "version": 1, "actor": patient.address}]
    after = world.fns.getConsent(patient.address, CLINIC.address).call()
    assert after[2] == REVOKED and after[:2] == before[:2] and after[3:] == before[3:]
    assert world.fns.currentConsentId(patient.address, CLINIC.address).call() == cid


def test_revoke_by_signature(world: World) -> None:
    patient = new_patient("revoke-sig")
    cid, _ = world.grant(patient)
    message = world.consents.revoke_message(patient.address, CLINIC.address, deadline=world.now() + 600)
    receipt = world.ledger.sender(LAB).transact(world.call_for(message, message.sign(patient)))  # any member relays
    assert world.events(receipt, "ConsentRevoked") == [{"patient": patient.address, "grantee": CLINIC.address, "consentId": cid, "version": 1, "actor": patient.address}]
    assert world.consents.consent(patient.address, CLINIC.address).status == "REVOKED"
    assert world.consents.nonce(patient.address) == 2


def test_revoke_without_an_active_consent_is_refused(world: World) -> None:
    patient = new_patient("revoke-none")
    expect(world.direct_refusal(patient, world.fns.revokeConsent(patient.address, CLINIC.address)), "NoActiveConsent", patient=patient.address, grantee=CLINIC.address)
    world.grant(patient)
    world.direct(patient).transact(world.fns.revokeConsent(patient.address, CLINIC.address))
    before = world.state([patient.address])
    expect(world.direct_refusal(patient, world.fns.revokeConsent(patient.address, CLINIC.address)), "NoActiveConsent")
    message = world.consents.revoke_message(patient.address, CLINIC.address, deadline=world.now() + 600)
    expect(world.mined_refusal(CLINIC, world.call_for(message, message.sign(patient))), "NoActiveConsent")
    assert world.state([patient.address]) == before


def test_strangers_cannot_grant_or_revoke_for_a_patient(world: World) -> None:
    patient, stranger = new_patient("victim"), new_patient("stranger")
    world.grant(patient)
    before = world.state([patient.address, stranger.address])
    world.direct(stranger)
    for function in (world.fns.grantConsent(patient.address, world.terms(grantee=LAB.address).as_tuple()), world.fns.revokeConsent(patient.address, CLINIC.address)):
        expect(world.direct_refusal(stranger, function), "UnauthorizedActor", patient=patient.address, actor=stranger.address)
    # A member cannot act for a patient directly either (it must relay the patient's signature).
    expect(world.mined_refusal(CLINIC, world.fns.revokeConsent(patient.address, CLINIC.address)), "UnauthorizedActor", actor=CLINIC.address)
    # Nobody is the patient "address(0)".
    with reverts("UnauthorizedActor"):
        world.ledger.sender(stranger).call(world.fns.grantConsent(ZERO, world.terms().as_tuple()))
    assert world.state([patient.address, stranger.address]) == before


def _bad_terms(world: World, grantee: str, case: str) -> tuple[tuple[Any, ...], str, dict[str, Any]]:
    now = world.now()
    good = {"grantee": grantee, "categories": ECG, "purposes": TREATMENT, "validFrom": now - 60, "validUntil": now + 3600, "dataFrom": 0, "dataUntil": 0}
    cases: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
        "zero-grantee": ({"grantee": ZERO}, "InvalidGrantee", {"grantee": ZERO}),
        "non-member-grantee": ({"grantee": OUTSIDER.address}, "InvalidGrantee", {"grantee": OUTSIDER.address}),
        "no-categories": ({"categories": 0}, "InvalidCategories", {"categories": 0}),
        "no-purposes": ({"purposes": 0}, "InvalidPurposes", {"purposes": 0}),
        "unknown-purpose-bit": ({"purposes": 32 | TREATMENT}, "InvalidPurposes", {"purposes": 33}),
        "empty-period": ({"validFrom": now + 10, "validUntil": now + 10}, "InvalidValidityPeriod", {}),
        "inverted-period": ({"validFrom": now + 20, "validUntil": now + 10}, "InvalidValidityPeriod", {}),
        "already-expired": ({"validFrom": 0, "validUntil": now - 1}, "InvalidValidityPeriod", {"validUntil": now - 1}),
        "inverted-data-period": ({"dataFrom": 500, "dataUntil": 400}, "InvalidDataPeriod", {"dataFrom": 500, "dataUntil": 400}),
        "empty-data-period": ({"dataFrom": 500, "dataUntil": 500}, "InvalidDataPeriod", {}),
    }
    overrides, error, args = cases[case]
    fields = good | overrides
    return tuple(fields[k] for k in ("grantee", "categories", "purposes", "validFrom", "validUntil", "dataFrom", "dataUntil")), error, args


BAD_TERMS = ["zero-grantee", "non-member-grantee", "no-categories", "no-purposes", "unknown-purpose-bit", "empty-period", "inverted-period", "already-expired", "inverted-data-period", "empty-data-period"]


@pytest.mark.parametrize("case", BAD_TERMS)
def test_invalid_terms_are_refused_directly_and_relayed(world: World, case: str) -> None:
    patient = new_patient(f"bad-terms-{case}")
    terms, error, args = _bad_terms(world, CLINIC.address, case)
    before = world.state([patient.address])
    world.direct(patient)
    expect(world.direct_refusal(patient, world.fns.grantConsent(patient.address, terms)), error, **args)
    fields = dict(zip(["grantee", "categories", "purposes", "validFrom", "validUntil", "dataFrom", "dataUntil"], terms, strict=True))
    message = TypedMessage(world.consents.domain, "GrantConsent", GRANT_CONSENT_TYPES, {"patient": patient.address, **fields, "nonce": 0, "deadline": world.now() + 600})
    expect(world.mined_refusal(CLINIC, world.call_for(message, message.sign(patient))), error, **args)
    assert world.state([patient.address]) == before


def test_open_ended_data_period_accepts_any_data_from(world: World) -> None:
    patient = new_patient("open-data")
    world.grant(patient, world.terms(data_from=2**40 - 1, data_until=0))
    assert world.consents.consent(patient.address, CLINIC.address).data_from == 2**40 - 1


# --------------------------------------------------------------------------------------------------
# Delegates
# --------------------------------------------------------------------------------------------------


def test_set_replace_and_remove_delegate_directly(world: World) -> None:
    patient, carer, guardian = new_patient("deleg-patient"), new_patient("deleg-carer"), new_patient("deleg-guardian")
    sender = world.direct(patient)
    receipt = sender.transact(world.fns.setDelegate(carer.address))
    assert world.events(receipt, "DelegateSet") == [{"patient": patient.address, "delegate": carer.address}]
    receipt = sender.transact(world.fns.setDelegate(guardian.address))
    assert world.events(receipt, "DelegateSet") == [{"patient": patient.address, "delegate": guardian.address}]
    assert world.consents.delegate_of(patient.address) == guardian.address
    receipt = sender.transact(world.fns.removeDelegate())
    assert world.events(receipt, "DelegateRemoved") == [{"patient": patient.address, "previousDelegate": guardian.address}]
    assert world.consents.delegate_of(patient.address) is None

    before = world.state([patient.address])
    expect(world.direct_refusal(patient, world.fns.removeDelegate()), "NoDelegate", patient=patient.address)
    expect(world.direct_refusal(patient, world.fns.setDelegate(patient.address)), "InvalidDelegate", delegate=patient.address)
    assert world.state([patient.address]) == before


def test_set_delegate_to_zero_is_refused(world: World) -> None:
    # Removal is removeDelegate(); a zero passed to setDelegate is a mistake and must not strip the guardian.
    patient, carer = new_patient("deleg-zero"), new_patient("deleg-zero-carer")
    sender = world.direct(patient)
    sender.transact(world.fns.setDelegate(carer.address))
    with reverts("InvalidDelegate", delegate=ZERO):
        sender.call(world.fns.setDelegate(ZERO))
    before = world.state([patient.address, carer.address])
    expect(world.direct_refusal(patient, world.fns.setDelegate(ZERO)), "InvalidDelegate", delegate=ZERO)
    assert world.state([patient.address, carer.address]) == before
    assert world.consents.delegate_of(patient.address) == carer.address
    # Without a delegate the zero is refused the same way (not as NoDelegate: it is not a removal).
    other = new_patient("deleg-zero-none")
    expect(world.direct_refusal(other, world.fns.setDelegate(ZERO)), "InvalidDelegate", delegate=ZERO)


def test_signed_set_delegate_to_zero_removes_and_needs_a_delegate(world: World) -> None:
    # The signed SetDelegate type has no removal message of its own: delegate zero, explicitly signed, removes.
    patient = new_patient("deleg-sig-zero")
    removal = world.consents.delegate_message(patient.address, None, deadline=world.now() + 600)
    assert removal.message["delegate"] == ZERO
    before = world.state([patient.address])
    expect(world.mined_refusal(CLINIC, world.call_for(removal, removal.sign(patient))), "NoDelegate", patient=patient.address)
    assert world.state([patient.address]) == before


def test_set_and_remove_delegate_by_signature(world: World) -> None:
    patient, carer = new_patient("deleg-sig"), new_patient("deleg-sig-carer")
    message = world.consents.delegate_message(patient.address, carer.address, deadline=world.now() + 600)
    receipt = world.clinic.transact(world.call_for(message, message.sign(patient)))
    assert world.events(receipt, "DelegateSet") == [{"patient": patient.address, "delegate": carer.address}]

    # A delegate cannot change delegation, not even to remove itself.
    by_carer = world.consents.delegate_message(patient.address, None, deadline=world.now() + 600, nonce=0)
    before = world.state([patient.address, carer.address])
    expect(world.mined_refusal(CLINIC, world.call_for(by_carer, by_carer.sign(carer))), "UnauthorizedActor", patient=patient.address, actor=carer.address)
    assert world.state([patient.address, carer.address]) == before

    removal = world.consents.delegate_message(patient.address, None, deadline=world.now() + 600)
    receipt = world.clinic.transact(world.call_for(removal, removal.sign(patient)))
    assert world.events(receipt, "DelegateRemoved") == [{"patient": patient.address, "previousDelegate": carer.address}]
    assert world.consents.delegate_of(patient.address) is None and world.consents.nonce(patient.address) == 2


def test_delegate_grants_and_revokes_directly(world: World) -> None:
    patient, carer = new_patient("deleg-direct"), new_patient("deleg-direct-carer")
    world.direct(patient).transact(world.fns.setDelegate(carer.address))
    carer_sender = world.direct(carer)
    receipt = carer_sender.transact(world.fns.grantConsent(patient.address, world.terms().as_tuple()))
    (granted,) = world.events(receipt, "ConsentGranted")
    assert granted["patient"] == patient.address and granted["actor"] == carer.address
    receipt = carer_sender.transact(world.fns.revokeConsent(patient.address, CLINIC.address))
    assert world.events(receipt, "ConsentRevoked")[0]["actor"] == carer.address
    # Once removed, the former delegate is a stranger.
    world.direct(patient).transact(world.fns.removeDelegate())
    expect(world.direct_refusal(carer, world.fns.grantConsent(patient.address, world.terms().as_tuple())), "UnauthorizedActor", actor=carer.address)


def test_delegate_signs_with_its_own_key_and_nonce(world: World) -> None:
    patient, carer = new_patient("deleg-own"), new_patient("deleg-own-carer")
    world.direct(patient).transact(world.fns.setDelegate(carer.address))
    # Spend one carer nonce elsewhere so "its own nonce" is distinguishable from the patient's.
    world.direct(carer).transact(world.fns.registerPatient(b"\x05" * 32))
    other = new_patient("deleg-own-other")
    world.direct(other).transact(world.fns.setDelegate(carer.address))
    world.grant(other, signer=carer)
    assert world.consents.nonce(carer.address) == 1

    # A delegate signature carrying the patient's nonce (0) is refused: the delegate's own (1) counts.
    wrong = world.consents.grant_message(patient.address, world.terms(), deadline=world.now() + 600, nonce=0)
    expect(world.mined_refusal(CLINIC, world.call_for(wrong, wrong.sign(carer))), "InvalidAccountNonce", account=carer.address, currentNonce=1)

    cid, receipt = world.grant(patient, signer=carer)
    assert world.events(receipt, "ConsentGranted")[0]["actor"] == carer.address
    assert (world.consents.nonce(carer.address), world.consents.nonce(patient.address)) == (2, 0)
    revoke = world.consents.revoke_message(patient.address, CLINIC.address, deadline=world.now() + 600, signer=carer.address)
    receipt = world.clinic.transact(world.call_for(revoke, revoke.sign(carer)))
    assert world.events(receipt, "ConsentRevoked")[0] == {"patient": patient.address, "grantee": CLINIC.address, "consentId": cid, "version": 1, "actor": carer.address}
    assert (world.consents.nonce(carer.address), world.consents.nonce(patient.address)) == (3, 0)


# --------------------------------------------------------------------------------------------------
# isPermitted
# --------------------------------------------------------------------------------------------------


def test_is_permitted_truth_table_for_categories_and_purposes(world: World) -> None:
    patient = new_patient("truth")
    world.grant(patient, world.terms(categories=ECG | LAB_CAT, purposes=TREATMENT | PAYMENT))
    p, g = patient.address, CLINIC.address
    table = [
        (ECG, TREATMENT, True), (LAB_CAT, PAYMENT, True), (ECG | LAB_CAT, TREATMENT | PAYMENT, True),
        (IMAGING, TREATMENT, False), (ECG | IMAGING, TREATMENT, False),  # every category bit must be granted
        (ECG, RESEARCH, False), (ECG, TREATMENT | RESEARCH, False),  # every purpose bit must be granted
        (0, TREATMENT, False), (ECG, 0, False),  # empty masks never match
        (1 << 15, TREATMENT, False), (ECG, 1 << 7, False),
    ]
    for category, purpose, expected in table:
        assert world.permitted(p, g, category, purpose) is expected, (category, purpose)
    assert not world.permitted(p, LAB.address, ECG, TREATMENT), "a consent to one grantee says nothing about another"
    assert not world.permitted(new_patient("never").address, g, ECG, TREATMENT)


def test_is_permitted_validity_window_edges(world: World) -> None:
    patient = new_patient("window")
    start = world.now()
    # Pin the grant's own block time, so the edges below lie after it however long the grant took to send.
    world.operator("evm_setNextBlockTimestamp", [start + 1])
    world.grant(patient, world.terms(valid_from=start + 100, valid_until=start + 200))
    # validFrom is inclusive, validUntil exclusive: mine blocks at the exact edges and ask at each, at that block.
    for timestamp, expected in ((start + 99, False), (start + 100, True), (start + 199, True), (start + 200, False)):
        world.operator("evm_mine", [timestamp])
        assert world.now() == timestamp
        assert world.permitted(patient.address, CLINIC.address, ECG, TREATMENT, world.w3.eth.block_number) is expected, timestamp


def test_is_permitted_ignores_the_data_period(world: World) -> None:
    # Documented: the data period depends on the record, so only RecordRegistry checks it.
    patient = new_patient("data-period")
    world.grant(patient, world.terms(data_from=1, data_until=2))
    assert world.permitted(patient.address, CLINIC.address, ECG, TREATMENT)


def test_suspended_grantee_is_not_permitted_and_cannot_be_granted(world: World) -> None:
    patient = new_patient("suspended")
    world.grant(patient, world.terms(grantee=LAB.address))
    assert world.permitted(patient.address, LAB.address, ECG, TREATMENT)
    registry = ConsortiumRegistry(world.ledger)
    proposal = registry.propose_suspension(world.ledger.sender(world.net.governors[0]), LAB.address, "licence lapsed")
    assert registry.approve(world.ledger.sender(world.net.governors[1]), proposal)
    assert not world.permitted(patient.address, LAB.address, ECG, TREATMENT)
    assert world.consents.consent(patient.address, LAB.address).status == "ACTIVE", "suspension does not touch the consent"
    before = world.state([patient.address])
    world.direct(patient)
    expect(world.direct_refusal(patient, world.fns.grantConsent(patient.address, world.terms(grantee=LAB.address).as_tuple())), "InvalidGrantee", grantee=LAB.address)
    assert world.state([patient.address]) == before


def test_revocation_holds_from_its_own_block_on(world: World) -> None:
    # The contract documents: effective when the revocation executes, so from block N+1 on it always holds,
    # and in block N itself for every transaction ordered after it (RecordRegistry tests the same-block case).
    patient = new_patient("revoked")
    world.grant(patient)
    receipt = world.direct(patient).transact(world.fns.revokeConsent(patient.address, CLINIC.address))
    block = receipt["blockNumber"]
    assert world.permitted(patient.address, CLINIC.address, ECG, TREATMENT, block - 1)
    assert not world.permitted(patient.address, CLINIC.address, ECG, TREATMENT, block)
    world.operator("evm_mine")
    assert not world.permitted(patient.address, CLINIC.address, ECG, TREATMENT, block + 1)


# --------------------------------------------------------------------------------------------------
# Refused signatures (every case: mined, refused, nothing changed)
# --------------------------------------------------------------------------------------------------


def _high_s(signature: bytes) -> bytes:
    """The malleable twin of a valid signature: same r, s' = n - s, flipped v. It recovers the same signer."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


SIGNATURE_CASES = ["replayed", "expired", "wrong-chain", "wrong-contract", "high-s", "wrong-signer", "short", "tampered", "non-member-relayer"]
# Every case for GrantConsent; for the other types the cases whose outcome depends on the type's own
# digest and nonce (the rest run the same shared checks, already covered by the GrantConsent cases).
PER_TYPE_CASES = ["replayed", "wrong-chain", "wrong-signer", "tampered"]
SIGNATURE_MATRIX = [("GrantConsent", case) for case in SIGNATURE_CASES] + [
    (kind, case) for kind in ("RevokeConsent", "RegisterPatient", "SetDelegate") for case in PER_TYPE_CASES
]


@pytest.mark.parametrize(("kind", "case"), SIGNATURE_MATRIX)
def test_refused_signatures_change_nothing(world: World, kind: str, case: str) -> None:
    patient, stranger = new_patient(f"sig-{kind}"), new_patient("sig-stranger")
    if kind == "RevokeConsent" or case == "replayed":
        world.grant(patient)  # something to revoke; and for "replayed", nonce 0 already used
    deadline = world.now() + 600
    c = world.consents

    def make(nonce: int | None = None, deadline: int = deadline, domain: Domain | None = None) -> TypedMessage:
        if kind == "GrantConsent":
            message = c.grant_message(patient.address, world.terms(grantee=LAB.address), deadline, nonce=nonce)
        elif kind == "RevokeConsent":
            message = c.revoke_message(patient.address, CLINIC.address, deadline, nonce=nonce)
        elif kind == "RegisterPatient":
            message = c.register_message(patient.address, b"\x06" * 32, deadline, nonce=nonce)
        else:
            message = c.delegate_message(patient.address, stranger.address, deadline, nonce=nonce)
        return message if domain is None else dataclasses.replace(message, domain=domain)

    domain = c.domain
    relayer: LocalAccount = CLINIC
    w3: Web3 | None = None
    if case == "replayed":
        message = make(nonce=0)  # the nonce the earlier grant consumed
        signature = message.sign(patient)
        error: tuple[str, dict[str, Any]] = ("InvalidAccountNonce", {"account": patient.address, "currentNonce": 1})
    elif case == "expired":
        message = make(deadline=world.now() - 1)
        signature = message.sign(patient)
        error = ("ExpiredSignature", {"deadline": message.message["deadline"]})
    elif case in ("wrong-chain", "wrong-contract"):
        other = dataclasses.replace(domain, chain_id=domain.chain_id + 1) if case == "wrong-chain" else dataclasses.replace(domain, verifying_contract=world.ledger.contract("RecordRegistry").address)
        foreign = make(domain=other)
        signature = foreign.sign(patient)
        message = make()
        error = ("UnauthorizedActor", {"patient": patient.address})
        assert foreign.recover(signature) == patient.address and message.recover(signature) != patient.address
    elif case == "high-s":
        message = make()
        signature = _high_s(message.sign(patient))
        error = ("ECDSAInvalidSignatureS", {"s": signature[32:64]})
    elif case == "wrong-signer":
        message = make()
        signature = message.sign(stranger)
        error = ("UnauthorizedActor", {"patient": patient.address, "actor": stranger.address})
    elif case == "short":
        message = make()
        signature = message.sign(patient)[:64]
        error = ("ECDSAInvalidSignatureLength", {"length": 64})
    elif case == "tampered":
        signed = make()
        signature = signed.sign(patient)
        message = dataclasses.replace(signed, message=signed.message | {"deadline": deadline + 1})
        error = ("UnauthorizedActor", {"patient": patient.address})
    else:
        message = make()
        signature = message.sign(patient)
        relayer, w3 = OUTSIDER, world.net.operator_w3
        world.direct(OUTSIDER)
        error = ("NotActiveMember", {"account": OUTSIDER.address})
        # Through the gateway the raw transaction never reaches the chain ...
        with pytest.raises(Web3RPCError, match="refused"):
            world.w3.eth.send_raw_transaction(raw_transaction(world.w3, OUTSIDER, world.call_for(message, signature)))
        # ... and on the private port the contract refuses it too (defence in depth).

    accounts = [patient.address, stranger.address]
    before = world.state(accounts)
    expect(world.mined_refusal(relayer, world.call_for(message, signature), w3), error[0], **error[1])
    assert world.state(accounts) == before


# --------------------------------------------------------------------------------------------------
# The Python wrapper: terms validated before anything is signed, the domain read once
# --------------------------------------------------------------------------------------------------

GOOD_TERMS: dict[str, Any] = {"grantee": CLINIC.address, "categories": ECG, "purposes": TREATMENT, "valid_from": 1_000, "valid_until": 2_000}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purposes": 0}, "purposes must be a non-empty mask of the five purposes (1..31), got 0"),
        ({"purposes": 32}, "got 32"),
        ({"purposes": 33}, "got 33"),
        ({"purposes": -1}, "got -1"),
        ({"categories": 0}, "categories must be a non-empty 16-bit category mask (1..65535), got 0"),
        ({"categories": 2**16}, "got 65536"),
        ({"valid_from": 2_000, "valid_until": 2_000}, "valid_from (2000) must be before valid_until (2000)"),
        ({"valid_from": 2_001}, "valid_from (2001) must be before valid_until (2000)"),
        ({"data_from": 500, "data_until": 500}, "data_from (500) must be before data_until (500)"),
        ({"data_from": 501, "data_until": 500}, "data_from (501) must be before data_until (500)"),
        ({"grantee": ZERO}, "grantee must not be the zero address"),
        ({"grantee": "clinic"}, "is not a 20-byte hex address"),
    ],
)
def test_consent_terms_refuse_what_the_contract_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match="invalid consent terms") as info:
        ConsentTerms(**(GOOD_TERMS | overrides))
    assert message in str(info.value)


def test_consent_terms_report_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        ConsentTerms(**(GOOD_TERMS | {"purposes": 0, "categories": 0, "valid_until": 1_000, "data_from": 9, "data_until": 3}))
    text = str(info.value)
    assert all(part in text for part in ("purposes must", "categories must", "valid_from (1000)", "data_from (9)"))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"purposes": 31, "categories": 0xFFFF},  # every purpose, every category bit (reserved ones too)
        {"purposes": 1, "categories": 1},
        {"valid_from": 0, "valid_until": 1},
        {"data_from": 2**40 - 1, "data_until": 0},  # data_until 0 = open-ended: any data_from
        {"data_from": 0, "data_until": 1},
        {"grantee": CLINIC.address.lower()},
    ],
)
def test_consent_terms_accept_the_edges(overrides: dict[str, Any]) -> None:
    terms = ConsentTerms(**(GOOD_TERMS | overrides))
    assert terms.as_tuple()[0] == CLINIC.address


def test_domain_is_read_once_per_wrapper(world: World) -> None:
    consents = ConsentLedger(world.ledger)
    assert "domain" not in vars(consents)
    first = consents.register_message(CLINIC.address, b"\x01", deadline=1, nonce=0)
    assert "domain" in vars(consents), "the domain is cached on first use"
    second = consents.revoke_message(CLINIC.address, LAB.address, deadline=1, nonce=0)
    assert first.domain is second.domain is consents.domain
    assert consents.domain == Domain.of(world.contract) == Domain("healthsilk ConsentLedger", "1", world.w3.eth.chain_id, world.contract.address)
