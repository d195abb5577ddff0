"""A prescriptions world on the anvil network (inside the test's `chain` snapshot): a prescriber in Yinchuan, two
pharmacies in Benin and one in Kazakhstan (PROVIDER + PHARMACY: they anchor their dispense records and claim), a
provider that is no pharmacy, and helpers that anchor real records and sign real presentations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.prescriptions import NewPrescription, Prescriptions, Scope, new_prescription_id
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now
from tests.support.reverts import refused

DAY = 86400
PRESCRIBER = throwaway_account("rx/yinchuan")
PHARMACY_BJ = throwaway_account("rx/pharmacy-lokossa")
PHARMACY_BJ2 = throwaway_account("rx/pharmacy-cotonou")
PHARMACY_KZ = throwaway_account("rx/pharmacy-almaty")
CLINIC = throwaway_account("rx/clinic")  # PROVIDER, no PHARMACY
MEMBERS = (
    (PRESCRIBER, "Yinchuan Cloud Hospital", "CN", ["PROVIDER"]),
    (PHARMACY_BJ, "Come Central Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
    (PHARMACY_BJ2, "Cotonou Pharmacy", "BJ", ["PROVIDER", "PHARMACY"]),
    (PHARMACY_KZ, "Almaty Pharmacy", "KZ", ["PROVIDER", "PHARMACY"]),
    (CLINIC, "Athieme Clinic", "BJ", ["PROVIDER"]),
)


@dataclass
class RxWorld:
    network: RunningNetwork
    ledger: Ledger
    registry: ConsortiumRegistry
    consents: ConsentLedger
    records: RecordRegistry
    rx: Prescriptions
    senders: dict[str, TransactionSender] = field(default_factory=dict)

    def now(self) -> int:
        return chain_now(self.ledger.w3)

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.senders.setdefault(account.address, self.ledger.sender(account))

    def grant(self, patient: LocalAccount, grantee: LocalAccount, categories: int, purposes: int = int(Purpose.TREATMENT), data_from: int = 0) -> None:
        now = self.now()
        terms = ConsentTerms(grantee=grantee.address, categories=categories, purposes=purposes, valid_from=now - 60, valid_until=now + 365 * DAY, data_from=data_from)
        message = self.consents.grant_message(patient.address, terms, deadline=now + 600)
        self.consents.relay(self.sender(grantee), message, message.sign(patient))

    def anchor(self, author: LocalAccount, patient: LocalAccount, category: Category) -> bytes:
        record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=category, content_hash=os.urandom(32), cid=b"\x01\x55\x12\x20" + os.urandom(32))
        self.records.anchor(self.sender(author), record)
        return record.record_id

    def patient(self) -> LocalAccount:
        """A new patient who consents to the prescriber for PRESCRIPTION and to the three pharmacies for DISPENSE."""
        patient = Account.create()
        self.grant(patient, PRESCRIBER, Category.PRESCRIPTION.bit)
        for pharmacy in (PHARMACY_BJ, PHARMACY_BJ2, PHARMACY_KZ, CLINIC):
            self.grant(patient, pharmacy, Category.DISPENSE.bit, int(Purpose.TREATMENT | Purpose.PAYMENT))
        return patient

    def prescription(self, patient: LocalAccount, **overrides: object) -> NewPrescription:
        now = self.now()
        fields: dict[str, object] = dict(
            prescription_id=new_prescription_id(), patient=patient.address, valid_from=now - 60, valid_until=now + 30 * DAY, dispenses_allowed=2, min_interval=7 * DAY,
        )
        fields.update(overrides)
        if "record_id" not in fields:
            fields["record_id"] = self.anchor(PRESCRIBER, patient, Category.PRESCRIPTION)
        return NewPrescription.model_validate(fields)

    def issue(self, patient: LocalAccount, **overrides: object) -> NewPrescription:
        p = self.prescription(patient, **overrides)
        self.rx.issue(self.sender(PRESCRIBER), p)
        return p

    def present(self, patient: LocalAccount, prescription_id: bytes, pharmacy: LocalAccount, signer: LocalAccount | None = None, relayer: LocalAccount | None = None):  # type: ignore[no-untyped-def]
        signer = signer or patient
        message = self.rx.present_message(prescription_id, pharmacy.address, deadline=self.now() + 600, signer=signer.address)
        return self.rx.relay_presentation(self.sender(relayer or pharmacy), message, message.sign(signer))

    def dispense(self, pharmacy: LocalAccount, patient: LocalAccount, prescription_id: bytes):  # type: ignore[no-untyped-def]
        record_id = self.anchor(pharmacy, patient, Category.DISPENSE)
        return self.rx.dispense(self.sender(pharmacy), prescription_id, record_id)


def build_world(network: RunningNetwork) -> RxWorld:
    ledger = network.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(network.governors[0]), ledger.sender(network.governors[1])
    for account, name, country, roles in MEMBERS:
        if registry.is_active(account.address):
            continue
        application = MemberApplication(address=account.address, name=name, country=country, roles=roles, hpke_public_key=b"\x02" + os.urandom(32))
        registry.approve(approver, registry.propose_admission(proposer, application))
    return RxWorld(network, ledger, registry, ConsentLedger(ledger), RecordRegistry(ledger), Prescriptions(ledger))


__all__ = ["CLINIC", "DAY", "PHARMACY_BJ", "PHARMACY_BJ2", "PHARMACY_KZ", "PRESCRIBER", "RxWorld", "Scope", "build_world", "refused"]
