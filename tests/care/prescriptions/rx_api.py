"""Real institution APIs for the prescription API tests, on the session's geth network: each a fresh member (its
registry endpoint is its own loopback URL, so authors release keys to readers), served in this process by tests/support/served_api.py."""

from __future__ import annotations

import os
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
from tests.support.served_api import ServedApi, loopback_url, served_api


@dataclass
class Institution:
    name: str
    identity: Identity
    token: str
    api: ServedApi
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def url(self) -> str:
        return self.api.url

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self.api.stop()


def start_institution(net: RunningNetwork, root: Path, name: str, country: str, roles: list[str]) -> Institution:
    identity = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    port = free_port()  # picked first: the member is admitted with its API URL as registry endpoint
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(address=identity.address, name=name, country=country, roles=roles, hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=loopback_url(port))
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    api = served_api(net, identity, root / name.lower().replace(" ", "-"), port=port, name=name)
    return Institution(name, identity, api.token("rx-tests", frozenset(SCOPES)), api)


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
