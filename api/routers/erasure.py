"""Patient-requested erasure (crypto-shredding): prepare the RequestErasure a patient signs, relay it, purge our copy.

The relayed typed data is never trusted as sent: it must name exactly this network's RecordRegistry domain and
the canonical RequestErasure struct, and it is rebuilt from those before the signer is recovered. Every check
(record, patient, signer, deadline, nonce) runs before the transaction is sent, so a bad request costs no gas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_only
from api.problems import conflict, forbidden, invalid, not_found, problem_responses
from api.relaying import ReceiptRecorder
from api.routers.consents import TypedData
from api.routers.deps import services
from api.services import Services
from api.typed_messages import parse_typed, recover_signer, to_json
from api.types import RECORD_ID_PATTERN, HexBytes, hex32, record_id_bytes
from i18n import _
from i18n.formatting import datetime_text
from ledger.eip712 import Domain, TypedMessage
from ledger.records import REQUEST_ERASURE_TYPES, Anchor, RecordState
from ledger.vocabulary import Category
from network.ipfs_client import IpfsError
from records.errors import RecordError

router = APIRouter(prefix="/v1", tags=["records"])
PathRecordId = Annotated[str, Path(pattern=RECORD_ID_PATTERN, description="0x + 64 hex digits")]
PRIMARY = "RequestErasure"
FIELDS = REQUEST_ERASURE_TYPES[PRIMARY]
RESPONSES = problem_responses(401, 403, 404, 409, 413, 422, 502, 503)


class ErasurePrepareOut(BaseModel):
    typed_data: TypedData = Field(description="EIP-712 RequestErasure to sign with eth_signTypedData_v4")
    summary: str = Field(description="what signing means, in plain words")


class ErasureIn(BaseModel):
    typed_data: dict[str, Any] = Field(description="the typed data from .../erasure/prepare, as signed")
    signature: HexBytes = Field(description="65-byte EIP-712 signature by the record's patient")


class ErasureOut(BaseModel):
    record_id: str
    transaction_hash: str
    block_number: int
    purged: bool = Field(description="this institution unpinned the payload and dropped its key wraps")
    purge_detail: str | None = Field(default=None, description="why the local purge did not complete (the on-chain marker stands; reads refuse the record)")


# --- checks ---------------------------------------------------------------------------------------------
def _own_record(svc: Services, record_id: str, caller: Caller) -> tuple[bytes, RecordState, Anchor]:
    """The record, which must be anchored on its own, belong to the caller and not be erased yet."""
    rid = record_id_bytes(record_id)
    state = svc.records.state(rid)
    anchor = svc.records.find_anchor(rid) if state is not None else None
    if state is None or anchor is None:
        raise not_found(_("no record {record_id} is anchored on chain").format(record_id=record_id))
    if state.patient != caller.address:
        raise forbidden(_("only the record's own patient may request its erasure"))
    if state.erased:
        raise conflict("record-already-erased", _("Record already erased"), _("record {record_id} is already erased").format(record_id=record_id))
    return rid, state, anchor


def parse_erasure(typed_data: Mapping[str, Any], domain: Domain) -> TypedMessage:
    """The client's RequestErasure, checked against the RecordRegistry domain and canonical struct, rebuilt from them."""
    return parse_typed(typed_data, domain, PRIMARY, REQUEST_ERASURE_TYPES, "RecordRegistry", ".../erasure/prepare")


def _summary(svc: Services, message: TypedMessage, anchor: Anchor) -> str:
    m = message.message
    author = svc.member_name(anchor.author)
    by = _("{name} ({address})").format(name=author, address=anchor.author) if author else anchor.author
    return _(
        "You ({patient}) ask that your {category} record {record}, written by {author} (anchored in block {block}), be erased: "
        "the ledger marks it erased, institutions unpin its encrypted payload and drop their keys, and nobody can read it again. "
        "This cannot be undone. This signature can be used once (nonce {nonce}) until {time}."
    ).format(patient=m["patient"], category=Category(anchor.category).name, record=hex32(anchor.record_id), author=by, block=anchor.block_number,
             nonce=m["nonce"], time=datetime_text(m["deadline"]))


# --- routes ---------------------------------------------------------------------------------------------
@router.post(
    "/records/{record_id}/erasure/prepare", response_model=ErasurePrepareOut,
    summary="Build the RequestErasure message the record's patient signs (the record's patient only)", responses=RESPONSES,
)
def prepare_erasure(record_id: PathRecordId, caller: Caller = Depends(patient_only()), svc: Services = Depends(services)) -> ErasurePrepareOut:
    rid, _state, anchor = _own_record(svc, record_id, caller)
    assert caller.address is not None
    message = svc.records.erasure_message(caller.address, rid, svc.chain_time() + svc.settings.consent_deadline_seconds)
    return ErasurePrepareOut(typed_data=TypedData.model_validate(to_json(message.full())), summary=_summary(svc, message, anchor))


@router.post(
    "/records/{record_id}/erasure", response_model=ErasureOut,
    summary="Relay the patient's signed RequestErasure, then shred this institution's copy (the record's patient only)", responses=RESPONSES,
)
def relay_erasure(record_id: PathRecordId, body: ErasureIn, caller: Caller = Depends(patient_only()), svc: Services = Depends(services)) -> ErasureOut:
    rid, state, _anchor = _own_record(svc, record_id, caller)
    message = parse_erasure(body.typed_data, svc.records.domain)
    m = message.message
    if m["recordId"] != rid or m["patient"] != state.patient:
        raise invalid(_("the signed message is not the erasure of record {record_id} by its patient {patient}; nothing was sent").format(record_id=record_id, patient=state.patient))
    signer = recover_signer(message, body.signature)
    if signer != state.patient:
        svc.metrics.relays.labels(PRIMARY, "bad_signature").inc()
        raise invalid(_("the signature recovers to {signer}, not the record's patient {patient}; nothing was sent").format(signer=signer, patient=state.patient))
    if m["deadline"] < svc.chain_time():
        svc.metrics.relays.labels(PRIMARY, "expired").inc()
        raise invalid(_("the signed message's deadline has passed; prepare and sign it again"))
    current = svc.records.nonce(signer)
    if m["nonce"] != current:
        svc.metrics.relays.labels(PRIMARY, "stale_nonce").inc()
        raise conflict("stale-nonce", _("Message already used or out of date"), _("the message carries nonce {nonce} but {signer}'s next nonce is {current}; prepare and sign it again").format(nonce=m['nonce'], signer=signer, current=current))
    recorder = ReceiptRecorder(svc.sender)
    try:
        svc.records.relay_erasure(recorder, message, bytes.fromhex(body.signature[2:]))  # type: ignore[arg-type]
    except Exception:
        svc.metrics.relays.labels(PRIMARY, "refused").inc()
        raise
    svc.metrics.relays.labels(PRIMARY, "relayed").inc()
    receipt = recorder.receipt
    out = ErasureOut(record_id=hex32(rid), transaction_hash=receipt["transactionHash"].to_0x_hex(), block_number=receipt["blockNumber"], purged=False)
    # The marker is on chain now: a failing purge is reported, not turned into a failed erasure (reads refuse it already).
    try:
        svc.record_service.purge(rid)
        out.purged = True
    except (IpfsError, RecordError) as exc:
        out.purge_detail = _("the local copy was not purged yet ({reason}); reads already refuse the record").format(reason=exc)
    return out
