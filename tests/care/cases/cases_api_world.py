"""Three institution APIs served for real on the session's geth network (a requester and two consultants), each
admitted with its API as registry endpoint so that author institutions release keys to case readers by themselves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from crypto import HpkePrivateKey, Identity
from tests.conftest import RunningNetwork, free_port
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member


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
        with httpx.Client(base_url=at.url, timeout=30) as client:
            challenge = client.post("/v1/auth/challenge", json={"address": patient.address}).json()["challenge"]
            signature = patient.account.sign_message(encode_defunct(text=challenge)).signature.to_0x_hex()
            answer = client.post("/v1/auth/session", json={"address": patient.address, "challenge": challenge, "signature": signature})
        assert answer.status_code == 200, answer.text
        return self.http(at, answer.json()["token"])

    def relay_signed(self, signer: Identity, body: dict[str, Any]) -> None:
        client = self.http(self.lokossa)
        prepared = client.post("/v1/consents/prepare", json=body)
        assert prepared.status_code == 200, prepared.text
        typed = prepared.json()["typed_data"]
        signature = signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
        relayed = client.post("/v1/consents/relay", json={"typed_data": typed, "signature": signature})
        assert relayed.status_code == 200, relayed.text

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
    import uvicorn

    from api.app import create_app
    from api.auth.store import SCOPES
    from api.settings import ApiSettings

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    identity = admit_member(net, label, name, country, ["PROVIDER"], endpoint=url)
    s = net.settings
    settings = ApiSettings(data_dir=root / label, gateway_url=s.gateway_url, deployments_file=s.deployments_file, ipfs_api=s.ipfs_url)
    app = create_app(settings, identity)
    token = app.state.services.auth.create_token(f"{label}-all", frozenset(SCOPES))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=f"api-{label}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {name} API did not start")
        time.sleep(0.05)
    try:
        yield Institution(name, identity, url, token, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
