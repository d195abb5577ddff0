"""Key shares: after a new grant the patient's wallet re-wraps record keys for this institution; and key release:
this institution re-wraps the keys of records it authored for a reader that a care flow authorises on chain."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_only
from api.problems import forbidden, invalid, problem_responses
from api.routers.deps import services
from api.services import Services
from api.types import Address, HexBytes, RecordIdHex, record_id_bytes
from i18n import _
from ledger.care_flows import CareFlowName
from records import KeyShare, KeyShareBundle
from records.key_release import MAX_RECORDS, KeyRelease
from records.reading import locate

router = APIRouter(prefix="/v1/keys", tags=["keys"])
MAX_SHARES = 1000


class SharesIn(BaseModel):
    grantee: Address = Field(description="must be this institution")
    wraps: dict[str, HexBytes] = Field(min_length=1, max_length=MAX_SHARES, description="record id (0x + 64 hex) -> key wrap (crypto.wrap v1) made for this institution")


class SharesOut(BaseModel):
    stored: int


@router.post("/shares", response_model=SharesOut, summary="Store key wraps the patient made for this institution (patient only)", responses=problem_responses(401, 403, 404, 410, 413, 422, 502, 503))
def store_shares(body: SharesIn, caller: Caller = Depends(patient_only()), svc: Services = Depends(services)) -> SharesOut:
    if body.grantee != svc.address:
        raise invalid(_("this institution is {address}; it only stores key wraps made for itself, not for {grantee}").format(address=svc.address, grantee=body.grantee))
    service = svc.record_service
    shares: list[KeyShare] = []
    for record_id, wrap in body.wraps.items():
        rid = record_id_bytes(record_id)
        state, anchor = locate(service.clients, rid)
        if state.patient != caller.address:
            raise forbidden(_("record {record_id} is not a record of {address}; a patient shares only their own records' keys").format(record_id=record_id, address=caller.address))
        obj, _payload = service.clients.objects.fetch(anchor)  # the version the wrap must be bound to
        shares.append(KeyShare(record_id=rid, version=obj.version, wrap=bytes.fromhex(wrap[2:])))
    assert caller.address is not None
    return SharesOut(stored=service.ingest(KeyShareBundle(patient=caller.address, grantee=svc.address, shares=shares)))


class ReleaseIn(BaseModel):
    flow: CareFlowName = Field(description="the care flow whose contract authorises the read")
    reader: Address = Field(description="the member asking; the wraps are made for its registered HPKE key")
    ref: RecordIdHex = Field(description="the case, break-glass or prescription id")
    record_ids: list[RecordIdHex] = Field(min_length=1, max_length=MAX_RECORDS, description="records this institution authored")
    nonce: RecordIdHex = Field(description="32 random bytes, used once")
    deadline: int = Field(ge=0, lt=2**64, description="last valid chain time (unix seconds)")
    signature: HexBytes = Field(description="the reader's EIP-712 `KeyRelease` signature (domain: the flow contract)")


class ReleasedWrap(BaseModel):
    record_id: str
    version: int
    wrap: str


class ReleaseOut(BaseModel):
    wraps: list[ReleasedWrap]


@router.post(
    "/release", response_model=ReleaseOut, summary="Release keys of records this institution authored to a reader a care flow authorises (signed by the reader)",
    description="No bearer token: the caller is the reader that signed the request (EIP-712 `KeyRelease` with a nonce and a deadline in chain "
    "time). For each record this institution checks that it authored it and that the flow contract's `mayRead(reader, ref, recordId)` is "
    "true now, then re-wraps the record key to the reader's HPKE key from the registry: only the reader can open it. All or nothing.",
    responses=problem_responses(403, 404, 410, 422, 502, 503),
)
def release_keys(body: ReleaseIn, svc: Services = Depends(services)) -> ReleaseOut:
    request = KeyRelease(
        flow=body.flow, reader=body.reader, ref=bytes.fromhex(body.ref[2:]), record_ids=tuple(record_id_bytes(r) for r in body.record_ids),
        nonce=bytes.fromhex(body.nonce[2:]), deadline=body.deadline, signature=bytes.fromhex(body.signature[2:]),
    )
    released = svc.record_service.release_keys(request)
    return ReleaseOut(wraps=[ReleasedWrap(record_id="0x" + k.record_id.hex(), version=k.version, wrap="0x" + k.wrap.hex()) for k in released])
