"""Key shares: after a new grant the patient's wallet re-wraps record keys for this institution."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_only
from api.problems import forbidden, invalid, problem_responses
from records import KeyShare, KeyShareBundle
from records.reading import locate
from api.routers.deps import services
from api.services import Services
from api.types import Address, HexBytes, record_id_bytes

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
        raise invalid(f"this institution is {svc.address}; it only stores key wraps made for itself, not for {body.grantee}")
    service = svc.record_service
    shares: list[KeyShare] = []
    for record_id, wrap in body.wraps.items():
        rid = record_id_bytes(record_id)
        state, anchor = locate(service.clients, rid)
        if state.patient != caller.address:
            raise forbidden(f"record {record_id} is not a record of {caller.address}; a patient shares only their own records' keys")
        obj, _ = service.clients.objects.fetch(anchor)  # the version the wrap must be bound to
        shares.append(KeyShare(record_id=rid, version=obj.version, wrap=bytes.fromhex(wrap[2:])))
    assert caller.address is not None
    return SharesOut(stored=service.ingest(KeyShareBundle(patient=caller.address, grantee=svc.address, shares=shares)))
