"""Real institution APIs for the prescription API tests, on the session's geth network: each a fresh member (its
registry endpoint is its own loopback URL, so authors release keys to readers), served by uvicorn in a thread."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from api.auth.store import SCOPES
from crypto import HpkePrivateKey, Identity
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.registry import ConsortiumRegistry, MemberApplication
from tests.conftest import RunningNetwork, free_port
from tests.support.chain_clock import chain_now


@dataclass
class Institution:
    name: str
    identity: Identity
    url: str
    token: str
    server: Any
    thread: threading.Thread
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.identity.address

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_institution(net: RunningNetwork, root: Path, name: str, country: str, roles: list[str]) -> Institution:
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    identity = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=identity.address, name=name, country=country, roles=roles, hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=url)
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    s = net.settings
    data_dir = root / name.lower().replace(" ", "-")
    app = create_app(ApiSettings(data_dir=data_dir, gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url), identity)
    token = app.state.services.auth.create_token("rx-tests", frozenset(SCOPES))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=f"api-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the API of {name} did not start")
        time.sleep(0.05)
    return Institution(name, identity, url, token, server, thread)


def new_patient(net: RunningNetwork, relayer: Identity) -> Identity:
    """A registered patient (her HPKE key on chain), relayed by `relayer`."""
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    ledger = net.ledger()
    consents = ConsentLedger(ledger)
    message = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=chain_now(ledger.w3) + 600)
    consents.relay(ledger.sender(relayer.account), message, message.sign(patient.account))
    return patient


def consent(net: RunningNetwork, patient: Identity, grantee: Identity, categories: int, purposes: int) -> None:
    ledger = net.ledger()
    consents = ConsentLedger(ledger)
    now = chain_now(ledger.w3)
    terms = ConsentTerms(grantee=grantee.address, categories=categories, purposes=purposes, valid_from=now - 60, valid_until=now + 365 * 86400)
    message = consents.grant_message(patient.address, terms, deadline=now + 600)
    consents.relay(ledger.sender(grantee.account), message, message.sign(patient.account))


def medication_request() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]},
        "subject": {"reference": "Patient/example"},
        "dispenseRequest": {"numberOfRepeatsAllowed": 1},
    }


def medication_dispense() -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense", "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]},
        "subject": {"reference": "Patient/example"},
        "quantity": {"value": 30, "unit": "tablet"},
        "note": [{"text": os.urandom(4).hex()}],  # distinct content, distinct record id
    }
