"""Helpers for the API tests (imported by basename): members, patients, sign-in, consents, FHIR samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from fastapi import FastAPI

from crypto import HpkePrivateKey, Identity
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member
from tests.support.wallet_calls import relay_signed, sign_in

PROBLEM_JSON = "application/problem+json"


@dataclass
class Member:
    identity: Identity
    name: str
    country: str

    @property
    def address(self) -> str:
        return self.identity.address


def admit(net: RunningNetwork, label: str, name: str, country: str, roles: list[str]) -> Member:
    """The member `label`, admitted once per network by a 2-of-3 governor vote, with a real HPKE key."""
    return Member(admit_member(net, label, name, country, roles), name, country)


@dataclass
class ApiWorld:
    net: RunningNetwork
    url: str
    app: FastAPI
    hospital: Member
    other: Member
    tokens: dict[str, str]
    data_dir: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self._clients.append(client)
        return client

    def as_scope(self, scope: str) -> httpx.Client:
        return self.client(self.tokens[scope])

    def close(self) -> None:
        for client in self._clients:
            client.close()

    # --- patients --------------------------------------------------------------------------------------
    def new_patient(self, register: bool = True) -> Identity:
        patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
        if register:
            self.relay_signed(patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
        return patient

    def sign_in(self, patient: Identity) -> str:
        return sign_in(self.url, patient)

    def as_patient(self, patient: Identity) -> httpx.Client:
        return self.client(self.sign_in(patient))

    def relay_signed(self, signer: Identity, body: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
        """prepare -> sign in the 'wallet' -> relay; returns the relay answer (asserting success)."""
        return relay_signed(client or self.as_scope("relay"), signer, body)

    def now(self) -> int:
        """The chain's time (tests date consents and cards from it, never from the wall clock)."""
        return chain_now(self.net.w3)

    def grant(self, patient: Identity, grantee: str, categories: list[str], purposes: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        now = self.now()
        body = {"action": "grant", "patient": patient.address, "grantee": grantee, "categories": categories, "purposes": purposes or ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3600, **extra}
        return self.relay_signed(patient, body)

    def patient_with_record(self, resource: dict[str, Any] | None = None) -> tuple[Identity, dict[str, Any]]:
        """A registered patient who consented (all categories) to the hospital, with one uploaded record."""
        patient = self.new_patient()
        self.grant(patient, self.hospital.address, ["ECG", "LAB"])
        answer = self.as_scope("write").post(f"/v1/patients/{patient.address}/records", json=resource or ecg_observation())
        assert answer.status_code == 201, answer.text
        return patient, answer.json()[0]


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}, body
    assert body["status"] == status and body["type"].startswith("https://healthsilk.dev/problems/") and body["title"] and body["detail"]
    if slug is not None:
        assert body["type"].endswith("/" + slug), body
    return dict(body)


# --- FHIR samples --------------------------------------------------------------------------------------
def ecg_observation(samples: int = 250, seed: int = 0) -> dict[str, Any]:
    data = " ".join(str(((i * 37 + seed) % 400) - 200) for i in range(samples))
    return {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T09:30:00+01:00",
        "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": data},
    }


def lab_observation(value: float = 5.4) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T08:00:00Z",
        "valueQuantity": {"value": value, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }


def prescription() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]},
        "subject": {"reference": "Patient/example"},
    }
