"""Patient sign-in: a single-use challenge signed with the wallet's key (EIP-191) buys a 15-minute session.

A delegate (guardian or carer) signs in the same way with its own wallet: the session is bound to the delegate's
address, and each request that reaches for a patient's data asks the chain whether it is that patient's delegate now."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth.store import Challenge
from api.problems import problem_responses, unauthorized
from api.routers.deps import services
from api.services import Services
from api.types import Address, HexBytes
from i18n import _

router = APIRouter(prefix="/v1/auth", tags=["auth"])
_NONCE = re.compile(r"^Nonce: ([0-9a-f]{32})$", re.MULTILINE)


class ChallengeRequest(BaseModel):
    address: Address


class ChallengeOut(BaseModel):
    challenge: str = Field(description="the exact text to sign with personal_sign (EIP-191)")
    expires_at: int


class SessionRequest(BaseModel):
    address: Address
    challenge: str = Field(max_length=2000)
    signature: HexBytes = Field(description="65-byte EIP-191 signature of the challenge text")


class SessionOut(BaseModel):
    token: str = Field(description="patient bearer token `hsp_...`")
    expires_at: int
    address: str


def _challenge_text(svc: Services, address: str, nonce: str, expires_at: int) -> str:
    try:
        name = svc.member_name(svc.address) or "unregistered institution"
    except Exception:  # noqa: BLE001 - the chain being down must not block sign-in text; the address identifies us
        name = "institution"
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "healthsilk patient sign-in\n\n"
        f"Institution: {name} ({svc.address})\n"
        f"Patient: {address}\n"
        f"Nonce: {nonce}\n"
        f"Expires: {when} ({expires_at})\n\n"
        + _("Signing lets this institution's API open a short session for your own records, and for those of a patient "
            "whose delegate you are on the ledger at the time, only. It costs nothing and grants no consent.")
    )


@router.post("/challenge", response_model=ChallengeOut, summary="Ask for a sign-in challenge (no auth)", responses=problem_responses(413, 422))
def challenge(body: ChallengeRequest, svc: Services = Depends(services)) -> ChallengeOut:
    nonce = secrets.token_hex(16)
    expires_at = int(time.time()) + svc.settings.challenge_ttl_seconds
    text = _challenge_text(svc, body.address, nonce, expires_at)
    svc.auth.add_challenge(Challenge(nonce, body.address, text, expires_at))
    return ChallengeOut(challenge=text, expires_at=expires_at)


@router.post("/session", response_model=SessionOut, summary="Exchange a signed challenge for a patient session token (no auth)", responses=problem_responses(401, 413, 422))
def session(body: SessionRequest, svc: Services = Depends(services)) -> SessionOut:
    match = _NONCE.search(body.challenge)
    pending = svc.auth.take_challenge(match.group(1)) if match else None
    if pending is None or pending.text != body.challenge or pending.address != body.address:
        raise unauthorized(_("unknown or already used challenge for this address; ask for a new one"))
    now = int(time.time())
    if pending.expires_at < now:
        raise unauthorized(_("the challenge expired; ask for a new one"))
    try:
        signer = Account.recover_message(encode_defunct(text=body.challenge), signature=bytes.fromhex(body.signature[2:]))
    except Exception:  # noqa: BLE001 - any malformed signature is simply not the patient's
        signer = None
    if signer != body.address:
        raise unauthorized(_("the signature does not recover to the address; sign the exact challenge text with that address's key"))
    expires_at = now + svc.settings.patient_token_ttl_seconds
    return SessionOut(token=svc.auth.create_session(body.address, expires_at), expires_at=expires_at, address=body.address)
