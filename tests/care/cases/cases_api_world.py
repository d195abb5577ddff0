"""Three institution APIs served for real on the session's geth network (a requester and two consultants), each
admitted with its API as registry endpoint so that author institutions release keys to case readers by themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from crypto import HpkePrivateKey, Identity
from tests.conftest import RunningNetwork, free_port
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member
from tests.support.served_api import loopback_url, served_api
from tests.support.wallet_calls import relay_signed, sign_in


@dataclass
class Institution:
    name: str
    identity: Identity
    url: str
    token: str
    app: Any

    @property
    def address(self) -> str:
        return self.identity.address

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=120)


@dataclass
class ReferralApis:
    net: RunningNetwork
    lokossa: Institution
    yinchuan: Institution
    almaty: Institution
    clients: list[httpx.Client] = field(default_factory=list)

    def http(self, who: Institution, token: str | None = None) -> httpx.Client:
        client = who.client(token)
        self.clients.append(client)
        return client

    def now(self) -> int:
        return chain_now(self.net.w3)

    def sign_in(self, patient: Identity, at: Institution) -> httpx.Client:
        return self.http(at, sign_in(at.url, patient))

    def relay_signed(self, signer: Identity, body: dict[str, Any]) -> None:
        relay_signed(self.http(self.lokossa), signer, body)

    def new_patient(self) -> Identity:
        """A registered patient who consented to Lokossa (ECG, LAB, REFERRAL) and, for the answers they will anchor, to
        the consultants for ECG and REFERRAL records written from now on (dataFrom = now: none of her older records)."""
        patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
        self.relay_signed(patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
        now = self.now()
        self.relay_signed(patient, {"action": "grant", "patient": patient.address, "grantee": self.lokossa.address, "categories": ["ECG", "LAB", "REFERRAL"], "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 86400})
        return patient

    def answer_consent(self, patient: Identity, consultant: Institution) -> None:
        now = self.now()
        self.relay_signed(
            patient,
            {"action": "grant", "patient": patient.address, "grantee": consultant.address, "categories": ["ECG", "REFERRAL"], "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 86400, "data_from": now + 1},
        )

    def approve(self, patient: Identity, case_id: str, days: int = 7) -> dict[str, Any]:
        client = self.sign_in(patient, self.lokossa)
        until = self.now() + days * 86400
        prepared = client.get(f"/v1/cases/{case_id}/approval", params={"until": until})
        assert prepared.status_code == 200, prepared.text
        typed = prepared.json()["typed_data"]
        signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
        m = typed["message"]
        relayed = client.post(f"/v1/cases/{case_id}/approval", json={"until": m["until"], "nonce": m["nonce"], "deadline": m["deadline"], "signature": signature})
        assert relayed.status_code == 200, relayed.text
        return {"summary": prepared.json()["summary"], **relayed.json()}

    def close(self) -> None:
        for client in self.clients:
            client.close()


@contextmanager
def serve(net: RunningNetwork, root: Path, label: str, name: str, country: str) -> Iterator[Institution]:
    from api.auth.store import SCOPES

    port = free_port()
    identity = admit_member(net, label, name, country, ["PROVIDER"], endpoint=loopback_url(port))
    with served_api(net, identity, root / label, port=port, name=label) as api:
        yield Institution(name, identity, api.url, api.token(f"{label}-all", SCOPES), api.app)
