"""Key shares: after a new grant the patient's wallet re-wraps record keys for this institution; key release:
this institution re-wraps the keys of records it authored for a reader that a care flow authorises on chain; and
delegate release: it re-wraps the keys it holds for the patient's current delegate (a guardian or carer), whose
wallet then decrypts with its own key. Key shares stay the patient's alone: they are made with the patient's key."""

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
from ledger.delegate_reads import DelegateAccessLog
from ledger.errors import ContractRevert
from records import KeyShare, KeyShareBundle
from records.errors import AccessDeniedError
from records.key_release import MAX_RECORDS, KeyRelease
from records.reading import locate
from records.sharing import rewrap_for_delegate

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


class DelegateReleaseIn(BaseModel):
    record_ids: list[RecordIdHex] = Field(min_length=1, max_length=MAX_RECORDS, description="records of the patient(s) the caller is the current delegate of")


class DelegateReleaseOut(BaseModel):
    delegate: str = Field(description="the caller; every wrap opens only with its registered HPKE key")
    wraps: list[ReleasedWrap]
    logged_block: int = Field(description="the chain block of the (last) DelegateAccessLog transaction that logged the read")
    transaction_hashes: list[str] = Field(description="the DelegateAccessLog transactions that logged the read, one per patient, mined before any key was returned")


@router.post(
    "/delegate", response_model=DelegateReleaseOut,
    summary="Release record keys to the patient's current delegate, re-wrapped to the delegate's registered key (delegate session)",
    description="For a patient session whose address is, on chain now, the delegate of each record's patient (ConsentLedger.delegateOf). "
    "This institution re-wraps the keys it holds (records it authored, or shared to it) to the HPKE key the delegate registered like a "
    "patient does; the delegate's wallet decrypts the sealed record (`GET /v1/records/{id}/sealed`) with its own key. Records authored "
    "elsewhere: ask their author's API; records anchored in a batch are refused. Before any key is returned, the read is logged "
    "on chain (DelegateAccessLog.logDelegateReads, one transaction per patient, receipt awaited): the contract checks again that the "
    "caller is the patient's current delegate and that this institution may hold each key (author, or a consent in force covering the "
    "category), and a refusal is a 403 with no key. The read appears in the patient's access log with its transaction. All or nothing.",
    responses=problem_responses(401, 403, 404, 409, 410, 413, 422, 502, 503),
)
def release_to_delegate(body: DelegateReleaseIn, caller: Caller = Depends(patient_only()), svc: Services = Depends(services)) -> DelegateReleaseOut:
    assert caller.address is not None
    service = svc.record_service
    by_patient: dict[str, list[ReleasedWrap]] = {}
    for record_id in dict.fromkeys(body.record_ids):
        try:
            patient, share = rewrap_for_delegate(svc.identity, service.clients, service.keystore, record_id_bytes(record_id), caller.address)
        except AccessDeniedError as exc:  # not the patient's delegate (any more): a caller problem, not a consent one
            raise forbidden(str(exc)) from None
        by_patient.setdefault(patient, []).append(ReleasedWrap(record_id="0x" + share.record_id.hex(), version=share.version, wrap="0x" + share.wrap.hex()))
    if not DelegateAccessLog.deployed(svc.ledger):
        raise forbidden(_("this network has no delegate access log (DelegateAccessLog); a delegate's read cannot be logged on chain, so no key is released"))
    log = DelegateAccessLog(svc.ledger)
    logged = []
    for wraps in by_patient.values():  # on chain, receipt awaited, before any key is returned
        try:
            logged.append(log.log_reads(service.sender, caller.address, [record_id_bytes(w.record_id) for w in wraps]))
        except ContractRevert as exc:  # the chain's own check: e.g. removed delegate, key not held; nothing is returned
            raise forbidden(_("the chain refused to log the read of {delegate} ({reason}); no key is released").format(delegate=caller.address, reason=exc)) from None
    return DelegateReleaseOut(
        delegate=caller.address, wraps=[w for wraps in by_patient.values() for w in wraps], logged_block=max(r.block_number for r in logged),
        transaction_hashes=[r.transaction_hash for r in logged],
    )
