"""Helpers of the break-glass API tests (imported by basename): two real institution APIs (uvicorn on loopback ports) on the session's geth network, for the break-glass flow:

- the hospital (PROVIDER): authors the patient's records, relays her signatures, serves her alert inbox;
- the ambulance (PROVIDER + EMERGENCY): breaks the glass and reads; keys come from the hospital's API.

Each lists its API as its registry endpoint, so key release goes over HTTP as in production. A privacy office
(PRIVACY_OFFICER) acts through the ledger directly.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "api"))  # api_world helpers (imported by basename)

from api_world import Member  # noqa: E402

from api.auth.store import SCOPES
from care.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from crypto import Identity
from tests.conftest import RunningNetwork, free_port
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member
from tests.support.served_api import loopback_url, served_api
from tests.support.wallet_calls import relay_signed, sign_in


@dataclass
class Institution:
    member: Member
    url: str
    tokens: dict[str, str]
    app: Any
    server: Any = None
    thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return self.member.address

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.tokens['all']}"}, timeout=60)


@dataclass
class EmergencyWorld:
    net: RunningNetwork
    hospital: Institution
    ambulance: Institution
    officer: Identity
    root: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def now(self) -> int:
        return chain_now(self.net.w3)

    def sign_in(self, institution: Institution, patient: Identity) -> httpx.Client:
        client = institution.client(sign_in(institution.url, patient))
        self._clients.append(client)
        return client

    def relay_consent(self, signer: Identity, body: dict[str, Any]) -> None:
        with self.hospital.client() as client:
            relay_signed(client, signer, body)


def _institution(net: RunningNetwork, root: Path, label: str, name: str, roles: list[str]) -> Institution:
    port = free_port()
    member = Member(admit_member(net, label, name, "KZ", roles, endpoint=loopback_url(port)), name, "KZ")
    api = served_api(net, member.identity, root / label, port=port, name=label)
    return Institution(member, api.url, {"all": api.token(f"{label}-all", SCOPES)}, api.app, api.server, api.thread)


ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
    "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
    "type": "allergy", "category": ["medication"], "criticality": "high",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}]},
    "patient": {"reference": "Patient/example"},
}
MEDICATION = {
    "resourceType": "MedicationStatement", "status": "active",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]},
    "subject": {"reference": "Patient/example"},
}
ECG = {
    "resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
    "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T09:30:00+01:00",
    "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": "1 2 3 4"},
}
LAB = {
    "resourceType": "Observation", "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
    "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T08:00:00Z",
    "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
}
REASON = "Found unconscious at Almaty-1 station; needs allergy and medication status before treatment."


SECRET = b"a-shared-secret-of-the-hospital"


class Receiver:
    """A local webhook receiver: answers `status` (a list consumed in order, then 200), records verified posts."""

    def __init__(self, port: int, statuses: list[int] | None = None) -> None:
        self.port = port
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(condition: Any, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit  # a generous bound for a slow machine, not a measured duration
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
