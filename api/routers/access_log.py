"""A patient's access log: every logged read of their records, with reader names and times.

Every entry comes from the ledger: RecordsAccessed (under a consent), CareRecordsAccessed (under a care flow) and
DelegateRecordsAccessed (keys an institution released to the patient's delegate, POST /v1/keys/delegate, logged
before they left)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_or_scopes
from api.problems import problem_responses
from api.routers.deps import services
from api.services import Services
from api.types import ADDRESS_PATTERN, ADDRESS_RULES, hex32, path_address
from ledger.care_flows import care_accesses_of
from ledger.delegate_reads import DelegateAccessLog
from ledger.vocabulary import purpose_names

router = APIRouter(prefix="/v1", tags=["access log"])
DELEGATE_READ = "DELEGATE"  # the purpose shown for a delegate's read: it reads as the patient, under no consent


class AccessEntry(BaseModel):
    reader: str
    reader_name: str | None
    purpose: str
    record_ids: list[str]
    consent_id: str | None
    flow: str | None = None  # a care read: the flow (case, emergency, prescription) that authorised it; "delegate" for a delegate's read ...
    ref: str | None = None  # ... and its case, break-glass or prescription id
    block_number: int
    transaction_hash: str | None = Field(description="the logging transaction")
    timestamp: int
    on_chain: bool = Field(default=True, description="true: every read is logged by a contract event before the data leaves")
    institution: str | None = Field(default=None, description="for a delegate's read: the institution that released the keys (and logged the read)")


@router.get(
    "/patients/{address}/access-log", response_model=list[AccessEntry], summary="Who read the patient's records, when and why, the patient's delegate included (the patient or its current delegate, or scope audit)",
    responses=problem_responses(401, 403, 422, 502, 503),
)
def access_log(address: Annotated[str, Path(pattern=ADDRESS_PATTERN, json_schema_extra=ADDRESS_RULES)], _: Caller = Depends(patient_or_scopes("audit")), svc: Services = Depends(services)) -> list[AccessEntry]:
    patient = path_address(address)
    consented = [
        AccessEntry(
            reader=access.reader, reader_name=svc.member_name(access.reader), purpose=(purpose_names(access.purpose) or [str(access.purpose)])[0],
            record_ids=[hex32(r) for r in access.record_ids], consent_id=hex32(access.consent_id) if any(access.consent_id) else None,
            block_number=access.block_number, transaction_hash=access.transaction_hash, timestamp=svc.block_timestamp(access.block_number),
        )
        for access in svc.records.accesses_of(patient)
    ]
    care = [
        AccessEntry(
            reader=access.reader, reader_name=svc.member_name(access.reader), purpose=(purpose_names(access.purpose) or [str(access.purpose)])[0],
            record_ids=[hex32(r) for r in access.record_ids], consent_id=None, flow=access.flow.name, ref=hex32(access.ref),
            block_number=access.block_number, transaction_hash=access.transaction_hash, timestamp=svc.block_timestamp(access.block_number),
        )
        for access in care_accesses_of(svc.ledger, patient)
    ]
    delegated = [
        AccessEntry(
            reader=read.delegate, reader_name=None, purpose=DELEGATE_READ, record_ids=[hex32(r) for r in read.record_ids], consent_id=None, flow="delegate",
            block_number=read.block_number, transaction_hash=read.transaction_hash, timestamp=svc.block_timestamp(read.block_number),
            institution=read.institution,
        )
        for read in (DelegateAccessLog(svc.ledger).reads_of(patient) if DelegateAccessLog.deployed(svc.ledger) else [])
    ]
    return sorted(consented + care + delegated, key=lambda entry: entry.block_number)
