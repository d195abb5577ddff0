"""Records: upload (seal, pin, anchor), list, read (consent-checked, access logged), verify, sealed bytes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth.callers import Caller, patient_only, patient_or_scopes, require_scopes
from api.problems import ProblemError, forbidden, invalid, not_found, problem_responses
from api.routers.deps import services
from api.services import Services
from api.types import (
    ADDRESS_PATTERN,
    ADDRESS_RULES,
    RECORD_ID_PATTERN,
    RecordIdHex,
    hex32,
    path_address,
    record_id_bytes,
)
from i18n import _
from ledger.care_flows import CareFlowName
from ledger.merkle import batch_leaf, verify
from ledger.records import Anchor, RecordState
from ledger.vocabulary import Category, Purpose
from network.ipfs_client import IpfsNotFound
from records import fhir
from records.categories import SUPPORTED_TYPES, category_of
from records.cid import cid_to_text, payload_cid
from records.errors import InvalidResourceError, RecordError

router = APIRouter(prefix="/v1", tags=["records"])
PathAddress = Annotated[str, Path(pattern=ADDRESS_PATTERN, json_schema_extra=ADDRESS_RULES)]
PathRecordId = Annotated[str, Path(pattern=RECORD_ID_PATTERN, description="0x + 64 hex digits")]
PurposeName = Literal["TREATMENT", "PAYMENT", "RESEARCH", "PUBLIC_HEALTH", "EMERGENCY"]
FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


class FhirResource(BaseModel):
    """Any FHIR R4 resource (validated server-side with the R4B models), or a Bundle of them."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})
    resourceType: str = Field(min_length=1, examples=["Observation", "Bundle"], json_schema_extra={"enum": [*SUPPORTED_TYPES, "Bundle"]})


class UploadedRecord(BaseModel):
    record_id: str
    category: str
    content_hash: str
    cid: str
    transaction_hash: str
    block_number: int
    version: int
    created: bool = Field(description="false when this exact record was already anchored (a safe retry)")


class RecordListItem(BaseModel):
    record_id: str
    category: str
    author: str
    author_name: str | None
    anchored_at: int = Field(description="block number of the anchor")
    anchored_time: int = Field(description="block timestamp of the anchor (what a consent's data period is checked against)")
    supersedes: str | None
    erased: bool
    cid: str
    content_hash: str
    batch_root: str | None = Field(default=None, description="the Merkle root of the batch that anchored it (batch-anchored records only)")


class MerkleInfo(BaseModel):
    """Where a batch-anchored record sits: check it yourself with OpenZeppelin's MerkleProof, or the contract's
    verifyBatchedRecord(root, (recordId, patient, category, contentHash, cid), proof)."""

    root: str
    proof_ok: bool = Field(description="the proof leads from the record's leaf to the root, and the contract (verifyBatchedRecord) agrees")
    leaf: str = Field(description="keccak256(keccak256(abi.encode(recordDigest, patient, category))), StandardMerkleTree")
    proof: list[str] = Field(description="sibling hashes, leaf to root")
    index: int = Field(description="the record's position in the batch manifest")
    count: int = Field(description="records in the batch")
    manifest_cid: str = Field(description="IPFS CID of the batch manifest (every record of the batch in full)")
    transaction_hash: str
    block_number: int


class Verification(BaseModel):
    record_id: str
    anchored: bool
    author: str
    author_active: bool
    category: str
    content_hash: str
    cid: str
    payload_available: bool
    sha256_ok: bool
    cid_ok: bool
    erased: bool
    consent_in_force: bool | None = Field(default=None, description="for institution callers: may this institution read it now (TREATMENT)")
    merkle: MerkleInfo | None = Field(default=None, description="batch-anchored records only")


def _entries(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources to store: the resource itself, or every entry of a Bundle; all validated before any is stored."""
    if resource.get("resourceType") != "Bundle":
        return [resource]
    entries = [entry.get("resource") for entry in resource.get("entry", []) if isinstance(entry, dict)]
    if not entries or any(not isinstance(entry, dict) for entry in entries):
        raise invalid(_("a Bundle must carry at least one entry, each with a resource"))
    return entries  # type: ignore[return-value]


def _entry_refused(index: int, entry: dict[str, Any], exc: RecordError) -> RecordError:
    """The same refusal (same problem type), saying which entry: its index, resourceType and id, and the reason."""
    kind, rid = entry.get("resourceType"), entry.get("id")
    named = _("Bundle entry {index} ({kind}{rid}) was refused, so nothing was stored: {reason}").format(
        index=index, kind=kind if isinstance(kind, str) else "?", rid=f"/{rid}" if isinstance(rid, str) else "", reason=exc
    )
    if isinstance(exc, InvalidResourceError):
        where = f"entry[{index}].resource"
        return InvalidResourceError(named, [replace(issue, field=f"{where}.{issue.field}" if issue.field else where) for issue in exc.issues])
    return type(exc)(named)


@router.post(
    "/patients/{address}/records", status_code=201, response_model=list[UploadedRecord],
    summary="Upload a FHIR resource or Bundle for a patient: validate, encrypt, pin, anchor (scope write)",
    responses=problem_responses(401, 403, 409, 413, 422, 502, 503),
    openapi_extra={"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirResource"}}, "application/json": {"schema": {"$ref": "#/components/schemas/FhirResource"}}}}},
)
def upload(
    address: PathAddress, response: Response, resource: FhirResource = Body(), _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services),
) -> list[UploadedRecord]:
    patient = path_address(address)
    service = svc.record_service
    entries = _entries(resource.model_dump())
    if resource.resourceType == "Bundle":  # refuse a whole Bundle before any entry is stored, naming the entry at fault
        for index, entry in enumerate(entries):
            try:
                _kind, canonical, _size = fhir.validate(entry, service.max_resource_bytes)
                category_of(canonical)
            except RecordError as exc:
                raise _entry_refused(index, entry, exc) from None
        fhir.validate(resource.model_dump(), 64 * 1024 * 1024)  # then the Bundle itself must be valid FHIR
    out: list[UploadedRecord] = []
    timings: dict[str, float] = {}
    for entry in entries:
        result = service.put(entry, patient)
        for stage, seconds in result.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        anchor = result.anchor
        out.append(
            UploadedRecord(
                record_id=hex32(result.record_id), category=result.category, content_hash=hex32(anchor.content_hash), cid=result.cid,
                transaction_hash=anchor.transaction_hash, block_number=anchor.block_number, version=result.version, created=result.created,
            )
        )
    response.headers["Server-Timing"] = ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in timings.items())  # W3C, ms
    return out


def _consent_window(svc: Services, patient: str) -> tuple[int, int, int, int, int] | None:
    """(category mask, valid_from, valid_until, data_from, data_until) of this institution's active consent."""
    consent = svc.consents.consent(patient, svc.address)
    if consent.status != "ACTIVE":
        return None
    mask = sum(Category[name].bit for name in consent.categories)
    return mask, consent.valid_from, consent.valid_until, consent.data_from, consent.data_until


@router.get(
    "/patients/{address}/records", response_model=list[RecordListItem],
    summary="A patient's anchored records (the patient or its current delegate: all; scope read: those this institution authored or may read now)",
    responses=problem_responses(401, 403, 422, 502, 503),
)
def list_records(address: PathAddress, caller: Caller = Depends(patient_or_scopes("read")), svc: Services = Depends(services)) -> list[RecordListItem]:
    patient = path_address(address)
    batched = svc.record_service.clients.batches.of_patient(patient)
    anchors = sorted(svc.records.anchors_of(patient) + batched, key=lambda a: a.block_number)
    erased = {bytes(event.args["recordId"]) for event in svc.ledger.events("RecordRegistry", "RecordErased", patient=patient)}
    window = None if caller.is_patient else _consent_window(svc, patient)
    now = svc.chain_time()
    out: list[RecordListItem] = []
    for anchor in anchors:
        anchored_time = svc.block_timestamp(anchor.block_number)
        if not caller.is_patient and anchor.author != svc.address and not _visible(window, anchor, anchored_time, now):
            continue
        out.append(
            RecordListItem(
                record_id=hex32(anchor.record_id), category=Category(anchor.category).name, author=anchor.author, author_name=svc.member_name(anchor.author),
                anchored_at=anchor.block_number, anchored_time=anchored_time, supersedes=hex32(anchor.supersedes) if any(anchor.supersedes) else None,
                erased=anchor.record_id in erased, cid=cid_to_text(anchor.cid), content_hash=hex32(anchor.content_hash),
                batch_root=hex32(anchor.batch.root) if anchor.batch else None,
            )
        )
    return out


def _visible(window: tuple[int, int, int, int, int] | None, anchor: Anchor, anchored_time: int, now: int) -> bool:
    if window is None:
        return False
    mask, valid_from, valid_until, data_from, data_until = window
    in_force = valid_from <= now < valid_until
    in_data_period = data_from <= anchored_time and (data_until == 0 or anchored_time < data_until)
    return in_force and bool(mask & (1 << anchor.category)) and in_data_period


@router.get(
    "/records/{record_id}", response_class=FhirJSONResponse, summary="Read a record: consent checked, access logged on chain (with the reads of the moment) before it is returned (scope read)",
    responses={200: {"description": "the decrypted FHIR resource", "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirResource"}}}}, **problem_responses(401, 403, 404, 409, 410, 422, 502, 503)},
)
async def read_record(
    record_id: PathRecordId, purpose: PurposeName = Query("TREATMENT", description="why the record is read (logged on chain)"),
    flow: CareFlowName | None = Query(None, description="read under a care flow instead of a consent: `case`, `emergency` or `prescription` (with `ref`); the purpose is the flow's"),
    ref: RecordIdHex | None = Query(None, description="the case, break-glass or prescription id (0x + 64 hex), with `flow`"),
    _caller: Caller = Depends(require_scopes("read")), svc: Services = Depends(services),
) -> FhirJSONResponse:
    # Async so that reads waiting for their access-log batch hold no worker thread: the reads of a busy moment
    # share one transaction (group commit) instead of queueing for threads. Blocking steps run in the threadpool.
    # The first use opens the chain and IPFS clients (blocking): in a worker thread, not on the event loop.
    service = svc.record_service if svc.is_open("record_service") else await run_in_threadpool(lambda: svc.record_service)
    if (flow is None) != (ref is None):
        raise invalid(_("give both `flow` and `ref` to read under a care flow, or neither"))
    if flow is not None and ref is not None:
        read = await run_in_threadpool(service.get_under, flow, bytes.fromhex(ref[2:]), record_id_bytes(record_id))
    else:
        read = await service.aget(record_id_bytes(record_id), Purpose[purpose])
    timing = ", ".join(f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in read.timings.items())  # W3C Server-Timing, ms
    return FhirJSONResponse(read.resource, headers={"X-Healthsilk-Access-Logged": "true", "X-Healthsilk-Record-Version": str(read.version), "Server-Timing": timing})


def _anchor_for(svc: Services, record_id: str, caller: Caller) -> tuple[Any, Anchor]:
    rid = record_id_bytes(record_id)
    state = svc.records.state(rid)
    anchor = svc.records.find_anchor(rid) if state is not None else None
    if state is None:  # anchored in a batch? (RecordRegistry stores batch records by root only)
        anchor = svc.record_service.clients.batches.find(rid)
        batch = svc.records.batch_state(anchor.batch.root) if anchor is not None and anchor.batch is not None else None
        if anchor is not None and batch is not None:
            state = RecordState(patient=anchor.patient, category=anchor.category, anchored_at=batch[1], erased=svc.records.is_batched_erased(anchor), author=batch[0])
    if state is None or anchor is None:
        raise not_found(_("no record {record_id} is anchored on chain").format(record_id=record_id))
    if caller.is_patient and not caller.acts_for(state.patient):
        raise forbidden(_("a patient token only gives access to the patient's own records, or to those of the patient it is the current delegate of"))
    return state, anchor


@router.get(
    "/records/{record_id}/verification", response_model=Verification,
    summary="Check a record's anchor against its IPFS payload, no decryption (scope read / audit, or the record's patient or its delegate)",
    responses=problem_responses(401, 403, 404, 422, 502, 503),
)
def verify_record(record_id: PathRecordId, caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services)) -> Verification:
    state, anchor = _anchor_for(svc, record_id, caller)
    cid = cid_to_text(anchor.cid)
    available = sha_ok = cid_ok = False
    if not state.erased:
        try:
            data = svc.ipfs.cat(cid)
            available = True
            sha_ok = hashlib.sha256(data).digest() == anchor.content_hash
            cid_ok = payload_cid(svc.settings.ipfs_api or "", data) == cid
        except IpfsNotFound:
            pass
    category = Category(anchor.category)
    consent_in_force = None
    if not caller.is_patient:
        consent_in_force = anchor.author == svc.address or svc.consents.is_permitted(anchor.patient, svc.address, category.bit, int(Purpose.TREATMENT))
    return Verification(
        record_id=hex32(anchor.record_id), anchored=True, author=anchor.author, author_active=svc.registry.is_active(anchor.author), category=category.name,
        content_hash=hex32(anchor.content_hash), cid=cid, payload_available=available, sha256_ok=sha_ok, cid_ok=cid_ok, erased=state.erased,
        consent_in_force=consent_in_force, merkle=_merkle(svc, anchor),
    )


def _merkle(svc: Services, anchor: Anchor) -> MerkleInfo | None:
    """The batch-anchored record's proof, checked here and by the contract."""
    batch = anchor.batch
    if batch is None:
        return None
    leaf = batch_leaf(anchor.batch_record().digest, anchor.patient, anchor.category)
    proof_ok = verify(batch.root, leaf, batch.proof) and svc.records.verify_batched(anchor)
    return MerkleInfo(
        root=hex32(batch.root), proof_ok=proof_ok, leaf=hex32(leaf), proof=[hex32(node) for node in batch.proof], index=batch.index, count=batch.count,
        manifest_cid=cid_to_text(batch.manifest_cid), transaction_hash=anchor.transaction_hash, block_number=anchor.block_number,
    )


@router.get(
    "/records/{record_id}/sealed", response_class=Response, summary="The sealed record object from IPFS, verified against its anchor (the record's patient, or its current delegate)",
    responses={200: {"description": "record object bytes (decrypt in the wallet)", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, **problem_responses(401, 403, 404, 410, 422, 502, 503)},
)
def sealed_record(record_id: PathRecordId, caller: Caller = Depends(patient_only()), svc: Services = Depends(services)) -> Response:
    state, anchor = _anchor_for(svc, record_id, caller)
    if state.erased:
        raise ProblemError(410, "record-erased", _("Record erased"), _("record {record_id} was erased at the patient's request").format(record_id=record_id))
    _obj, data = svc.record_service.clients.objects.fetch(anchor)
    return Response(data, media_type="application/octet-stream", headers={"X-Content-SHA256": "0x" + hashlib.sha256(data).hexdigest()})
