"""What a patient's wallet does over HTTP, done by the tests themselves (no wallet code in between): sign in with a
personal_sign challenge, and sign a prepared consent action (EIP-712) for the API to relay.

The API tests, the care-flow worlds and the crash drills all need both; they assert success, so a test that uses
them fails at the step that went wrong.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account.messages import encode_defunct

from crypto import Identity


def sign_in(url: str, patient: Identity) -> str:
    """challenge -> personal_sign -> a patient session token at the API at `url`."""
    with httpx.Client(base_url=url, timeout=30) as client:
        challenge = client.post("/v1/auth/challenge", json={"address": patient.address}).json()["challenge"]
        signature = patient.account.sign_message(encode_defunct(text=challenge)).signature.to_0x_hex()
        answer = client.post("/v1/auth/session", json={"address": patient.address, "challenge": challenge, "signature": signature})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def relay_signed(client: httpx.Client, signer: Identity, body: dict[str, Any]) -> dict[str, Any]:
    """prepare -> sign the typed data as `signer` -> relay, through `client` (a token with the relay scope)."""
    prepared = client.post("/v1/consents/prepare", json=body)
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()["typed_data"]
    signature = signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
    relayed = client.post("/v1/consents/relay", json={"typed_data": typed, "signature": signature})
    assert relayed.status_code == 200, relayed.text
    return dict(relayed.json())
