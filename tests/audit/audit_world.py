"""A populated ledger for the audit tests, built only through the real contracts (gateway) and the real IPFS node.

Members from three countries, registered patients with a delegate, consents (one later revoked), real sealed
FHIR records in IPFS (one superseded, one erased and purged), reads (one an EMERGENCY read under an EMERGENCY consent),
a funded programme with cards, claims (confirmed by the patient's delegate, paid with an override under a
pre-authorisation, rejected), a cash allowance, an escrow withdrawal, and a member suspended and reinstated.
Plus the operator-port helpers the tamper tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from records import RecordClients
from records.erasure import erase
from records.service import RecordService
from crypto import HpkePrivateKey, Identity
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.payments import HealthCardPayments, NewProgramme
from ledger.records import RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now

DAY, YEAR = 86_400, 365 * 86_400
ALL_CATEGORIES = sum(c.bit for c in Category)


def identity(label: str) -> Identity:
    return Identity(account=throwaway_account(f"audit/{label}"), hpke_key=HpkePrivateKey.generate())


def lab(value: float) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T08:00:00Z",
        "valueQuantity": {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }


@dataclass
class AuditWorld:
    net: RunningNetwork
    ledger: Ledger
    hospital: RecordService  # Yinchuan (CN): provider, empanelled, authors most records
    clinic: RecordService  # Lokossa (BJ): provider, suspended and reinstated once
    emergency: Identity  # Almaty ambulance (KZ): PROVIDER + EMERGENCY
    payer: Identity  # Kazakhstan insurance fund (KZ)
    alice: Identity
    bob: Identity
    carer: Identity  # alice's delegate
    alice_records: list[bytes]  # by the hospital: lab v1, lab v2 (supersedes v1), ECG
    bob_record: bytes
    clinic_record: bytes  # alice's ECG by the clinic
    programme_id: int
    card_alice: int
    card_bob: int
    data_root: Path

    def clients(self) -> RecordClients:
        return RecordClients.open(self.ledger, self.net.settings.ipfs_url)

    def now(self) -> int:
        return chain_now(self.ledger.w3)


def admit(ledger: Ledger, net: RunningNetwork, who: Identity, name: str, country: str, roles: list[str]) -> None:
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=who.address, name=name, country=country, roles=roles, hpke_public_key=who.hpke_public_key.to_bytes())
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))


def relay(ledger: Ledger, net: RunningNetwork, message, signer: Identity) -> None:  # type: ignore[no-untyped-def]
    ConsentLedger(ledger).relay(ledger.sender(net.governors[0]), message, message.sign(signer.account))


def grant(ledger: Ledger, net: RunningNetwork, patient: Identity, grantee: str, categories: int, purposes: int) -> None:
    now = chain_now(ledger.w3)
    terms = ConsentTerms(grantee=grantee, categories=categories, purposes=purposes, valid_from=now - 60, valid_until=now + YEAR)
    relay(ledger, net, ConsentLedger(ledger).grant_message(patient.address, terms, deadline=now + 600), patient)


def build_audit_world(net: RunningNetwork, data_root: Path) -> AuditWorld:
    ledger = net.ledger()
    consents, registry, records = ConsentLedger(ledger), ConsortiumRegistry(ledger), RecordRegistry(ledger)
    hospital_id, clinic_id, emergency, payer = identity("hospital"), identity("clinic"), identity("ambulance"), identity("payer")
    admit(ledger, net, hospital_id, "Yinchuan First People's Hospital", "CN", ["PROVIDER"])
    admit(ledger, net, clinic_id, "Lokossa Clinic", "BJ", ["PROVIDER"])
    admit(ledger, net, emergency, "Almaty Ambulance Service", "KZ", ["PROVIDER", "EMERGENCY"])
    admit(ledger, net, payer, "Kazakhstan Social Health Insurance Fund", "KZ", ["PAYER"])

    alice, bob, carer = identity("alice"), identity("bob"), identity("carer")
    deadline = chain_now(ledger.w3) + 600
    for patient in (alice, bob):
        relay(ledger, net, consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline), patient)
    relay(ledger, net, consents.delegate_message(alice.address, carer.address, deadline), alice)
    grant(ledger, net, alice, hospital_id.address, ALL_CATEGORIES, int(Purpose.TREATMENT | Purpose.PAYMENT))
    grant(ledger, net, bob, hospital_id.address, Category.LAB.bit, int(Purpose.TREATMENT))
    grant(ledger, net, alice, clinic_id.address, Category.ECG.bit | Category.LAB.bit, int(Purpose.TREATMENT))
    # Reads for EMERGENCY go through RecordRegistry only under a consent that covers EMERGENCY (issue 13, 5a).
    grant(ledger, net, bob, emergency.address, Category.LAB.bit, int(Purpose.EMERGENCY))

    def service(who: Identity, name: str) -> RecordService:
        return RecordService(who, RecordClients.open(ledger, net.settings.ipfs_url), data_root / name)

    hospital, clinic = service(hospital_id, "hospital"), service(clinic_id, "clinic")
    first = hospital.put(lab(5.4), alice.address).record_id
    second = hospital.put(lab(6.1), alice.address, supersedes=first).record_id
    ecg = hospital.put(_ecg(0), alice.address).record_id
    bob_record = hospital.put(lab(4.9), bob.address).record_id
    clinic_record = clinic.put(_ecg(1), alice.address).record_id
    erased = clinic.put(_ecg(2), alice.address).record_id

    # Reads: the clinic reads the hospital's ECG of alice; an ambulance reads bob's record under his EMERGENCY consent.
    records.log_access(ledger.sender(clinic_id.account), [ecg], Purpose.TREATMENT)
    records.log_access(ledger.sender(hospital_id.account), [second, ecg], Purpose.TREATMENT)
    records.log_access(ledger.sender(emergency.account), [bob_record], Purpose.EMERGENCY)
    erase(alice, erased, clinic)  # crypto-shredding: marker on chain, unpinned and GC'd in IPFS

    # Governance beyond admissions: the clinic is suspended, then reinstated.
    g0, g1 = ledger.sender(net.governors[0]), ledger.sender(net.governors[1])
    registry.approve(g1, registry.propose_suspension(g0, clinic_id.address, "licence under review"))
    registry.approve(g1, registry.propose_reinstatement(g0, clinic_id.address))

    # E-card payments.
    payments = HealthCardPayments(ledger)
    pay, prov = ledger.sender(payer.account), ledger.sender(hospital_id.account)
    programme_id = payments.create_programme(pay, NewProgramme(name="Kazakhstan cross-border care", currency="KZT", default_annual_limit=1_000_000, auto_approval_threshold=200_000, pre_auth_validity=7 * DAY))
    payments.set_empanelled(pay, programme_id, hospital_id.address)
    payments.fund_escrow(pay, programme_id, 2_000_000)
    now = chain_now(ledger.w3)
    card_alice = payments.issue_card(pay, programme_id, alice.address, valid_until=now + YEAR)
    card_bob = payments.issue_card(pay, programme_id, bob.address, valid_until=now + YEAR, annual_limit=300_000)
    confirmed = payments.submit_claim(prov, card_alice, second, "LAB-PANEL", 50_000)
    message = payments.confirmation_message(confirmed, deadline=now + 3600, signer=carer.address)
    payments.relay_confirmation(ledger.sender(net.governors[0]), message, message.sign(carer.account))
    payments.approve_claim(pay, confirmed)
    pre_auth = payments.request_pre_auth(prov, card_alice, "ECG-READ", 100_000)
    overridden = payments.submit_claim(prov, card_alice, ecg, "ECG-READ", 90_000, pre_auth.pre_auth_id)
    payments.approve_claim(pay, overridden, override_confirmation=True)
    rejected = payments.submit_claim(prov, card_bob, bob_record, "LAB-PANEL", 20_000)
    payments.reject_claim(pay, rejected, 7)
    payments.disburse_cash(pay, card_bob, "TRAVEL", 15_000)
    payments.withdraw_escrow(pay, programme_id, 100_000)
    relay(ledger, net, consents.revoke_message(bob.address, hospital_id.address, chain_now(ledger.w3) + 600), bob)

    return AuditWorld(
        net=net, ledger=ledger, hospital=hospital, clinic=clinic, emergency=emergency, payer=payer, alice=alice, bob=bob, carer=carer,
        alice_records=[first, second, ecg], bob_record=bob_record, clinic_record=clinic_record, programme_id=programme_id,
        card_alice=card_alice, card_bob=card_bob, data_root=data_root,
    )


def _ecg(seed: int) -> dict:  # type: ignore[type-arg]
    data = " ".join(str(((i * 37 + seed) % 400) - 200) for i in range(200))
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "procedure"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T09:30:00+01:00",
        "component": [{"code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": "131100", "display": "Lead I"}]},
                       "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "factor": 5, "dimensions": 1, "data": data}}],
    }


# ---------------------------------------------------------------- operator-port tampering (storage the contracts would refuse)


def mapping_slot(key_types: list[str], keys: list[object], base: int) -> int:
    """Solidity storage slot of mapping[k1][k2]... declared at `base`."""
    slot = base
    for kind, key in zip(key_types, keys, strict=True):
        slot = int.from_bytes(keccak(encode([kind, "uint256"], [key, slot])), "big")
    return slot


def read_slot(operator: Web3, address: str, slot: int) -> int:
    return int.from_bytes(bytes(operator.eth.get_storage_at(to_checksum_address(address), slot)), "big")


def write_slot(operator: Web3, address: str, slot: int, value: int) -> None:
    """anvil_setStorageAt on the private port: changes storage without any event (what the audit must catch)."""
    reply = operator.provider.make_request("anvil_setStorageAt", [to_checksum_address(address), hex(slot), "0x" + value.to_bytes(32, "big").hex()])  # type: ignore[arg-type]
    assert "error" not in reply, reply


def find_base_slot(operator: Web3, address: str, key_types: list[str], keys: list[object], matches, limit: int = 16) -> int:  # type: ignore[no-untyped-def]
    """The declaration slot of a mapping, found by looking for a known entry (no storage layout in the artifacts)."""
    for base in range(limit):
        if matches(read_slot(operator, address, mapping_slot(key_types, keys, base))):
            return base
    raise AssertionError(f"no mapping slot below {limit} holds the expected entry")
