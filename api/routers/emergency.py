"""Break-glass emergency access (issue 13) over HTTP: thin routes over `care.emergency.EmergencyService`.

- the patient's emergency policy: read it, prepare the `SetEmergencyPolicy` message (plain words first), relay it;
- an EMERGENCY member breaks the glass (reason code + free text, sealed to the patient) and reads with
  `GET /v1/records/{id}?flow=emergency&ref=<breakGlassId>` (records router) or the summary below;
- the review: a PRIVACY_OFFICER member directly, or the patient / delegate by a signed `ReviewBreakGlass`;
- `GET /v1/patients/{a}/summary`: the IPS-style emergency summary of what this institution may read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_or_scopes, require_scopes
from api.problems import ProblemError, forbidden, invalid, not_found, problem_responses
from api.routers.deps import services
from api.services import Services
from api.typed_messages import field_value, same_domain, to_json
from api.types import ADDRESS_PATTERN, path_address
from care.emergency import BreakGlassView, EmergencyError, EmergencyService
from i18n import _
from ledger.eip712 import TypedMessage, has_canonical_types
from ledger.emergency import (
    MAX_DURATION,
    REVIEW_BREAK_GLASS_TYPES,
    SET_EMERGENCY_POLICY_TYPES,
    PolicyMode,
    ReasonCode,
)
from ledger.errors import ContractRevert
from ledger.vocabulary import category_names, parse_categories

router = APIRouter(prefix="/v1", tags=["emergency"])
T = TypeVar("T")
PathAddress = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="0x address")]
Id32 = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="break-glass id (0x + 64 hex)")]
RESPONSES = problem_responses(401, 403, 404, 409, 422, 502, 503)
FORBIDDEN_REVERTS = {"MissingRole", "NotActiveMember", "NotAllowedToReview"}


def emergency_service(svc: Services) -> EmergencyService:
    """One service per app (it shares the institution's transaction pipeline)."""
    return svc._once("emergency_service", lambda: EmergencyService(
        svc.identity, svc.records, svc.consents, svc.sender, svc.ipfs, lambda: svc.record_service, svc.chain_time))


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's and the contract's refusals as problems (nothing was changed)."""
    try:
        yield
    except EmergencyError as exc:
        raise invalid(str(exc)) from None
    except LookupError as exc:
        raise not_found(str(exc)) from None
    except ContractRevert as exc:
        if exc.name in FORBIDDEN_REVERTS:
            raise forbidden(_("the ledger refused: {error}").format(error=str(exc))) from None
        raise


def _act(action: Callable[[], T]) -> T:
    with _refusals():
        return action()


def _id(text: str) -> bytes:
    return bytes.fromhex(text[2:])


# ---------------------------------------------------------------------------------------------- models

class PolicyOut(BaseModel):
    patient: str
    mode: str
    categories: list[str] = Field(description="categories a break-glass may cover now (empty for NEVER)")


class PolicyPrepareIn(BaseModel):
    mode: Literal["CATEGORIES", "ALL", "NEVER"]
    categories: list[str] = Field(default_factory=list, description="for CATEGORIES: e.g. ALLERGIES, MEDICATIONS, SUMMARY, IMMUNIZATIONS, ECG")
    signer: str | None = Field(None, pattern=ADDRESS_PATTERN, description="the patient (default) or its delegate")


class PreparedOut(BaseModel):
    typed_data: dict[str, Any]
    summary: str = Field(description="what the signature does, in plain words, to show the signer first")


class SignedIn(BaseModel):
    typed_data: dict[str, Any]
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class RelayedOut(BaseModel):
    block_number: int
    transaction_hash: str


class BreakGlassIn(BaseModel):
    patient: str = Field(pattern=ADDRESS_PATTERN)
    reason_code: Literal["ETREAT", "BTG", "ERTREAT"] = Field(description="FHIR v3 ActReason code")
    reason: str = Field(min_length=1, max_length=2000, description="free text; sealed to the patient, only its hash is on chain")
    categories: list[str] = Field(default_factory=list, description="default: the summary categories the patient's policy allows")
    duration_seconds: int = Field(0, ge=0, le=MAX_DURATION, description="0 = 4 h; at most 24 h")


class ReviewIn(BaseModel):
    justified: bool
    note: str = Field("", max_length=2000, description="kept off chain; its hash is recorded")


class ReviewPrepareIn(ReviewIn):
    signer: str | None = Field(None, pattern=ADDRESS_PATTERN)


class SealedReasonOut(BaseModel):
    break_glass_id: str
    sealed: str = Field(description="base64 of the reason sealed to the patient's HPKE key (care/emergency_reason.py)")


def _categories(names: list[str]) -> int:
    if not names:
        return 0
    try:
        return parse_categories(names)
    except ValueError as exc:
        raise invalid(str(exc)) from None


def _parse(typed_data: Mapping[str, Any], svc: EmergencyService, primary: str, types: dict[str, list[dict[str, str]]]) -> TypedMessage:
    """The signed message as this network's BreakGlass message `primary`, or a 422 problem."""
    if typed_data.get("primaryType") != primary or not has_canonical_types(typed_data.get("types"), types):
        raise invalid(_("typed_data must be exactly a {primary} message of the BreakGlass contract (use the prepare route)").format(primary=primary))
    if not same_domain(typed_data.get("domain"), svc.bg.domain):
        raise invalid(_("typed_data.domain is not this network's BreakGlass domain"))
    message = typed_data.get("message")
    fields = types[primary]
    if not isinstance(message, Mapping) or set(message) != {f["name"] for f in fields}:
        raise invalid(_("typed_data.message must have exactly the fields {fields}").format(fields=", ".join(f["name"] for f in fields)))
    values: dict[str, Any] = {}
    for f in fields:
        value = message[f["name"]]
        if f["type"] == "bool":
            if not isinstance(value, bool):
                raise invalid(_("typed_data.message.{name} must be true or false").format(name=f["name"]))
            values[f["name"]] = value
        else:
            values[f["name"]] = field_value(f["type"], f["name"], value)
    return TypedMessage(svc.bg.domain, primary, types, values)


def _signature(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _view_for(caller: Caller, view: BreakGlassView) -> BreakGlassView:
    caller.require_patient_self(view.patient)
    return view


# ---------------------------------------------------------------------------------------------- policy

@router.get("/patients/{address}/emergency-policy", response_model=PolicyOut, responses=RESPONSES,
            summary="The patient's emergency policy (patient self, or scope read)")
def get_policy(address: PathAddress, caller: Caller = Depends(patient_or_scopes("read")), svc: Services = Depends(services)) -> PolicyOut:
    policy = emergency_service(svc).policy(path_address(address))
    return PolicyOut(patient=policy.patient, mode=policy.mode.name, categories=category_names(policy.allowed))


@router.post("/patients/{address}/emergency-policy/prepare", response_model=PreparedOut, responses=RESPONSES,
             summary="Build the SetEmergencyPolicy message the patient (or delegate) signs")
def prepare_policy(address: PathAddress, body: PolicyPrepareIn, caller: Caller = Depends(patient_or_scopes("relay")), svc: Services = Depends(services)) -> PreparedOut:
    patient = path_address(address)
    if caller.is_patient and body.signer and body.signer.lower() != (caller.address or "").lower():
        raise forbidden(_("a patient session prepares messages for its own signature only"))
    es = emergency_service(svc)
    mode = PolicyMode[body.mode]
    message, words = _act(lambda: es.prepare_policy(patient, mode, _categories(body.categories), body.signer or (caller.address if caller.is_patient else None)))
    return PreparedOut(typed_data=to_json(message.full()), summary=words)


@router.post("/patients/{address}/emergency-policy", response_model=RelayedOut, responses=RESPONSES,
             summary="Relay the signed SetEmergencyPolicy (patient self, or scope relay)")
def relay_policy(address: PathAddress, body: SignedIn, caller: Caller = Depends(patient_or_scopes("relay")), svc: Services = Depends(services)) -> RelayedOut:
    es = emergency_service(svc)
    message = _parse(body.typed_data, es, "SetEmergencyPolicy", SET_EMERGENCY_POLICY_TYPES)
    if message.message["patient"] != path_address(address):
        raise invalid(_("the signed message is for another patient"))
    return RelayedOut(**_act(lambda: es.relay_policy(message, _signature(body.signature))))


# ---------------------------------------------------------------------------------------------- break-glass

@router.post("/emergency/break-glass", response_model=BreakGlassView, status_code=201, responses=RESPONSES,
             summary="Break the glass on a patient's records as this institution (an EMERGENCY member; scope write)")
def open_break_glass(body: BreakGlassIn, _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services)) -> BreakGlassView:
    es = emergency_service(svc)
    opened = _act(lambda: es.open(body.patient, ReasonCode[body.reason_code], body.reason, _categories(body.categories), body.duration_seconds))
    return next(v for v in es.views(patient=opened.patient) if v.id == "0x" + opened.id.hex())


@router.get("/emergency/break-glass", response_model=list[BreakGlassView], responses=RESPONSES,
            summary="Break-glasses: a patient's (the patient or its delegate's session), or any patient's / reader's (scope read)")
def list_break_glass(
    patient: str | None = Query(None, pattern=ADDRESS_PATTERN, description="patient sessions: default their own; a delegate names its patient"),
    reader: str | None = Query(None, pattern=ADDRESS_PATTERN),
    caller: Caller = Depends(patient_or_scopes("read", self_param=None)), svc: Services = Depends(services),
) -> list[BreakGlassView]:
    if patient is not None:
        patient = path_address(patient, "patient")
    if caller.is_patient:
        patient = patient or caller.address
        caller.require_patient_self(str(patient))
    return emergency_service(svc).views(patient=patient, reader=reader)


@router.get("/emergency/break-glass/{break_glass_id}", response_model=BreakGlassView, responses=RESPONSES,
            summary="One break-glass (its patient, or scope read)")
def get_break_glass(break_glass_id: Id32, caller: Caller = Depends(patient_or_scopes("read", self_param=None)), svc: Services = Depends(services)) -> BreakGlassView:
    es = emergency_service(svc)
    access = _act(lambda: es.get(_id(break_glass_id)))
    caller.require_patient_self(access.patient)
    return next(v for v in es.views(patient=access.patient) if v.id == break_glass_id.lower())


@router.get("/emergency/break-glass/{break_glass_id}/reason", response_model=SealedReasonOut, responses=RESPONSES,
            summary="The free-text reason sealed to the patient's key (its patient, or scope read: it opens only with the patient's key)")
def sealed_reason(break_glass_id: Id32, caller: Caller = Depends(patient_or_scopes("read", self_param=None)), svc: Services = Depends(services)) -> SealedReasonOut:
    es = emergency_service(svc)
    access = _act(lambda: es.get(_id(break_glass_id)))
    caller.require_patient_self(access.patient)
    blob = _act(lambda: es.reason_blob(_id(break_glass_id)))
    return SealedReasonOut(break_glass_id=break_glass_id.lower(), sealed=base64.b64encode(blob).decode())


@router.post("/emergency/break-glass/{break_glass_id}/review", response_model=RelayedOut, responses=RESPONSES,
             summary="Review a break-glass as this institution (a PRIVACY_OFFICER member; scope write)")
def review(break_glass_id: Id32, body: ReviewIn, _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services)) -> RelayedOut:
    es = emergency_service(svc)
    return RelayedOut(**_act(lambda: es.review(_id(break_glass_id), body.justified, body.note)))


@router.post("/emergency/break-glass/{break_glass_id}/review/prepare", response_model=PreparedOut, responses=RESPONSES,
             summary="Build the ReviewBreakGlass message the patient (or delegate) signs")
def prepare_review(break_glass_id: Id32, body: ReviewPrepareIn, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)), svc: Services = Depends(services)) -> PreparedOut:
    es = emergency_service(svc)
    access = _act(lambda: es.get(_id(break_glass_id)))
    caller.require_patient_self(access.patient)
    signer = body.signer or (caller.address if caller.is_patient else None)
    message, words = _act(lambda: es.prepare_review(_id(break_glass_id), body.justified, body.note, signer))
    if signer and path_address(signer, "signer") != access.patient:  # the signer must hear that it signs for someone else
        words = _("As delegate of patient {patient}, you ({signer}) sign for the patient: {summary}").format(patient=access.patient, signer=path_address(signer, "signer"), summary=words)
    return PreparedOut(typed_data=to_json(message.full()), summary=words)


@router.post("/emergency/break-glass/{break_glass_id}/review/relay", response_model=RelayedOut, responses=RESPONSES,
             summary="Relay the patient's signed ReviewBreakGlass (patient self, or scope relay)")
def relay_review(break_glass_id: Id32, body: SignedIn, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)), svc: Services = Depends(services)) -> RelayedOut:
    es = emergency_service(svc)
    message = _parse(body.typed_data, es, "ReviewBreakGlass", REVIEW_BREAK_GLASS_TYPES)
    if "0x" + bytes(message.message["id"]).hex() != break_glass_id.lower():
        raise invalid(_("the signed message is for another break-glass"))
    access = _act(lambda: es.get(_id(break_glass_id)))
    caller.require_patient_self(access.patient)
    return RelayedOut(**_act(lambda: es.relay_review(message, _signature(body.signature))))


# ---------------------------------------------------------------------------------------------- the summary

@router.get("/patients/{address}/summary", responses={200: {"description": "FHIR Bundle (document), IPS style"}, **RESPONSES},
            summary="The emergency summary (IPS-style FHIR document Bundle) of what this institution may read (scope read)")
async def summary(
    address: PathAddress,
    ref: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$", description="read under this break-glass (the caller's own) instead of consents"),
    _caller: Caller = Depends(require_scopes("read")), svc: Services = Depends(services),
) -> dict[str, Any]:
    # Each record read may wait for its author's key release: off the event loop.
    es = await run_in_threadpool(lambda: emergency_service(svc))
    patient = path_address(address)
    if ref is not None:
        access = await run_in_threadpool(lambda: _act(lambda: es.get(_id(ref))))
        if access.patient != patient:
            raise invalid(_("break-glass {ref} is for another patient").format(ref=ref))
    return await run_in_threadpool(lambda: _act(lambda: es.summary(patient, _id(ref) if ref else None)))


__all__ = ["ProblemError", "emergency_service", "router"]
