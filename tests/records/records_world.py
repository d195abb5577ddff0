"""Helpers for the record tests (imported by basename): the consortium world and FHIR samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from records import RecordClients, RecordService
from crypto import HpkePrivateKey, Identity
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member

ALL_CATEGORIES = sum(c.bit for c in Category)


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    patient: Identity
    author: RecordService  # hospital A: holds the patient's consent for every category
    other: RecordService  # hospital B: no consent until a test grants one
    data_root: Path

    def clients(self) -> RecordClients:
        return RecordClients.open(self.ledger, self.net.settings.ipfs_url)

    def service(self, identity: Identity, name: str, **kwargs: Any) -> RecordService:
        return RecordService(identity, self.clients(), self.data_root / name, **kwargs)

    def grant(self, grantee: str, categories: int, purposes: int = int(Purpose.TREATMENT)) -> None:
        consents = ConsentLedger(self.ledger)
        now = chain_now(self.ledger.w3)
        terms = ConsentTerms(grantee=grantee, categories=categories, purposes=purposes, valid_from=now - 60, valid_until=now + 3600)
        message = consents.grant_message(self.patient.address, terms, deadline=now + 600)
        consents.relay(self.ledger.sender(self.net.governors[0]), message, message.sign(self.patient.account))

    def revoke(self, grantee: str) -> None:
        consents = ConsentLedger(self.ledger)
        message = consents.revoke_message(self.patient.address, grantee, deadline=chain_now(self.ledger.w3) + 600)
        consents.relay(self.ledger.sender(self.net.governors[0]), message, message.sign(self.patient.account))


def admit_provider(net: RunningNetwork, label: str, name: str) -> Identity:
    return admit_member(net, label, name, "BJ", ["PROVIDER"])


def build_world(chain: RunningNetwork, tmp_path: Path) -> World:
    ledger = chain.ledger()
    hospital_a = admit_provider(chain, "records-hospital-a", "Parakou Hospital")
    hospital_b = admit_provider(chain, "records-hospital-b", "Ningxia Heart Centre")
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    consents = ConsentLedger(ledger)
    register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=chain_now(ledger.w3) + 600)
    consents.relay(ledger.sender(chain.governors[0]), register, register.sign(patient.account))
    clients = RecordClients.open(ledger, chain.settings.ipfs_url)
    world = World(
        net=chain, ledger=ledger, patient=patient,
        author=RecordService(hospital_a, clients, tmp_path / "hospital-a"),
        other=RecordService(hospital_b, RecordClients.open(ledger, chain.settings.ipfs_url), tmp_path / "hospital-b"),
        data_root=tmp_path,
    )
    world.grant(hospital_a.address, ALL_CATEGORIES)
    return world


# ---- FHIR samples -------------------------------------------------------------------------------

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def ecg_observation(samples_per_lead: int = 2500, seed: int = 0) -> dict[str, Any]:
    """A 12-lead resting ECG (10 s at 250 Hz per lead), one SampledData component per lead."""
    components = []
    for index, lead in enumerate(LEADS):
        data = " ".join(str(((i * 37 + index * 11 + seed) % 400) - 200) for i in range(samples_per_lead))
        components.append({
            "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": f"1311{index:02d}", "display": f"Lead {lead}"}]},
            "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "factor": 5, "dimensions": 1, "data": data},
        })
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "procedure"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-05-02T09:30:00+01:00",
        "component": components,
    }


def lab_observation(value: float = 5.4) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose [Mass/volume] in Serum or Plasma"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-05-02T08:00:00Z",
        "valueQuantity": {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }


def diagnostic_report() -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "HM"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel - Blood by Automated count"}]},
        "subject": {"reference": "Patient/example"},
        "effectiveDateTime": "2024-05-02T08:00:00Z",
        "issued": "2024-05-02T10:00:00Z",
        "result": [{"reference": "Observation/hb"}, {"reference": "Observation/wbc"}],
        "conclusion": "Within normal limits.",
    }
