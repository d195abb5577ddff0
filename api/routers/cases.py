"""Referral cases (issue 12): requesters open, share, close; consultants accept, decline, answer; patients approve or
refuse through the requester's API after reading what they sign. A thin layer over care.cases.

A patient's current delegate (ConsentLedger.delegateOf, asked live) acts for the patient with its own session: it
lists (`?patient=`), sees, approves and refuses the patient's cases, signing with its own key and nonce; ReferralCases
(CareFlow) accepts the patient's or the delegate's signature."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth.callers import Caller, patient_only, patient_or_scopes, require_scopes
from api.problems import (
    ProblemError,
    conflict,
    forbidden,
    invalid,
    not_found,
    problem_responses,
)
from api.routers.deps import services
from api.services import Services
from api.types import (
    ADDRESS_PATTERN,
    Address,
    HexBytes,
    RecordIdHex,
    path_address,
    record_id_bytes,
)
from care.cases import CaseError, CaseService
from care.cases_views import CaseView
from i18n import _
from ledger.cases import (
    MAX_ATTACHED,
    MAX_CONSULTANTS,
    CaseTx,
    DeclineReason,
    Priority,
    ReferralCases,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"])
PathCaseId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="the case id (0x + 64 hex)")]
SIGNATURE_LIFETIME = 600  # seconds of chain time the patient has to sign what the API prepared


class Resource(BaseModel):
    """A FHIR R4 resource (validated by the record service)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})
    resourceType: str = Field(min_length=1)


class OpenIn(BaseModel):
    patient: Address
    request: Resource = Field(description="the FHIR ServiceRequest: what is asked (stored as an encrypted record, category REFERRAL)")
    priority: Literal["ROUTINE", "URGENT", "STAT"] = "ROUTINE"
    attached_ids: list[RecordIdHex] = Field(default_factory=list, max_length=MAX_ATTACHED, description="the patient's own records, anchored on their own")
    consultants: list[Address] = Field(min_length=1, max_length=MAX_CONSULTANTS)


class TxOut(BaseModel):
    case_id: str
    transaction_hash: str
    block_number: int
    gas_used: int


class OpenOut(TxOut):
    case: CaseView


class DeclineIn(BaseModel):
    reason: Literal["BUSY", "OUT_OF_SPECIALTY", "INSUFFICIENT_DATA", "OTHER"]


class AnswerIn(BaseModel):
    resource: Resource = Field(description="a DiagnosticReport, or a Communication (a question back)")


class WriteIn(BaseModel):
    resource: Resource = Field(description="a Communication, or the panel conclusion (DiagnosticReport)")
    share_with: list[Address] = Field(default_factory=list, max_length=MAX_CONSULTANTS)


class ShareIn(BaseModel):
    record_id: RecordIdHex
    consultants: list[Address] = Field(min_length=1, max_length=MAX_CONSULTANTS)


class RecordTxOut(TxOut):
    record_id: str


class SigningOut(BaseModel):
    summary: str = Field(description="what the patient signs, in plain words")
    typed_data: dict[str, Any] = Field(description="the EIP-712 message to sign (eth_signTypedData_v4)")


class SignedIn(BaseModel):
    until: int = Field(default=0, ge=0, lt=2**40, description="end of the case consent (approval only)")
    nonce: int = Field(ge=0)
    deadline: int = Field(ge=0, lt=2**64)
    signature: HexBytes


def case_service(svc: Services = Depends(services)) -> CaseService:
    def build() -> CaseService:
        return CaseService(ReferralCases(svc.ledger), svc.record_service, svc.registry, svc.record_service.sender, svc.chain_time, svc.member)

    try:
        return svc._once("case_service", build)  # one per app: it shares the institution's sender
    except LookupError:
        raise ProblemError(503, "flow-not-deployed", _("Referral cases unavailable"), _("ReferralCases is not deployed on this network")) from None


def _case_id(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _problem(exc: CaseError) -> ProblemError:
    text = str(exc)
    if exc.kind == "forbidden":
        return forbidden(text)
    if exc.kind == "not_found":
        return not_found(text)
    if exc.kind == "conflict":
        return conflict("case-refused", _("Refused by the case"), text)
    return invalid(text)


def _run(action: Any) -> Any:
    try:
        return action()
    except CaseError as exc:
        raise _problem(exc) from None


def _tx(tx: CaseTx) -> TxOut:
    return TxOut(case_id="0x" + tx.case_id.hex(), transaction_hash=tx.transaction_hash, block_number=tx.block_number, gas_used=tx.gas_used)


ERRORS = problem_responses(401, 403, 404, 409, 422, 502, 503)


@router.post("", status_code=201, response_model=OpenOut, summary="Open a case: anchor the ServiceRequest, name the records and the consultants (scope write)", responses=ERRORS)
def open_case(body: OpenIn, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> OpenOut:
    attached = [record_id_bytes(r) for r in body.attached_ids]
    view, tx = _run(lambda: cases.open(body.patient, body.request.model_dump(), Priority[body.priority], attached, body.consultants))
    return OpenOut(case=view, **_tx(tx).model_dump())


@router.get("", response_model=list[CaseView], summary="Cases of this institution (role in / out / all; scope read) or a patient's (the patient or its delegate)", responses=ERRORS)
def list_cases(
    role: Literal["in", "out", "all"] = Query("all", description="in: consulted on; out: opened here"),
    patient: str | None = Query(None, pattern=ADDRESS_PATTERN, description="patient sessions: whose cases (default: the session's own; a delegate names its patient); institutions: only this patient's"),
    caller: Caller = Depends(patient_or_scopes("read", self_param=None)), cases: CaseService = Depends(case_service),
) -> list[CaseView]:
    wanted = path_address(patient, "patient") if patient else None
    if caller.is_patient:
        wanted = wanted or caller.address
        caller.require_patient_self(str(wanted))
        return _run(lambda: cases.mine(wanted, role))  # type: ignore[no-any-return]
    views: list[CaseView] = _run(lambda: cases.mine(None, role))
    return [v for v in views if wanted is None or v.patient == wanted]


@router.get("/{case_id}", response_model=CaseView, summary="One case (its requester, consultants, patient or the patient's delegate)", responses=ERRORS)
def show_case(case_id: PathCaseId, caller: Caller = Depends(patient_or_scopes("read", self_param=None)), cases: CaseService = Depends(case_service)) -> CaseView:
    cid = _case_id(case_id)
    viewer = _patient_viewer(cases, cid, caller) if caller.is_patient else None
    return _run(lambda: cases.view(cid, viewer))  # type: ignore[no-any-return]


@router.post("/{case_id}/accept", response_model=TxOut, summary="Accept the case as an invited consultant (scope write)", responses=ERRORS)
def accept(case_id: PathCaseId, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> TxOut:
    return _tx(_run(lambda: cases.accept(_case_id(case_id))))


@router.post("/{case_id}/decline", response_model=TxOut, summary="Decline the case with a reason code (scope write)", responses=ERRORS)
def decline(case_id: PathCaseId, body: DeclineIn, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> TxOut:
    return _tx(_run(lambda: cases.decline(_case_id(case_id), DeclineReason[body.reason])))


@router.post("/{case_id}/answers", status_code=201, response_model=RecordTxOut, summary="Answer as an accepting consultant: anchor the record, link it to the case (scope write)", responses=ERRORS)
def answer(case_id: PathCaseId, body: AnswerIn, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> RecordTxOut:
    record_id, tx = _run(lambda: cases.answer(_case_id(case_id), body.resource.model_dump()))
    return RecordTxOut(record_id=record_id, **_tx(tx).model_dump())


@router.post("/{case_id}/messages", status_code=201, response_model=RecordTxOut, summary="The requester writes into the case and shares with consultants (scope write)", responses=ERRORS)
def write(case_id: PathCaseId, body: WriteIn, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> RecordTxOut:
    record_id, tx = _run(lambda: cases.write(_case_id(case_id), body.resource.model_dump(), body.share_with))
    return RecordTxOut(record_id=record_id, **_tx(tx).model_dump())


@router.post("/{case_id}/share", response_model=TxOut, summary="The requester shares an answer with other consultants of the case (scope write)", responses=ERRORS)
def share(case_id: PathCaseId, body: ShareIn, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> TxOut:
    return _tx(_run(lambda: cases.share(_case_id(case_id), record_id_bytes(body.record_id), body.consultants)))


@router.post("/{case_id}/close", response_model=TxOut, summary="Close the case: its consent ends (the requester; scope write)", responses=ERRORS)
def close(case_id: PathCaseId, _c: Caller = Depends(require_scopes("write")), cases: CaseService = Depends(case_service)) -> TxOut:
    return _tx(_run(lambda: cases.close(_case_id(case_id))))


@router.get("/{case_id}/approval", response_model=SigningOut, summary="What the patient (or its delegate) signs to approve: plain words and the EIP-712 message (patient session)", responses=ERRORS)
def approval(
    case_id: PathCaseId, until: int = Query(gt=0, lt=2**40, description="end of the case consent (unix seconds)"),
    caller: Caller = Depends(patient_only()), cases: CaseService = Depends(case_service), svc: Services = Depends(services),
) -> SigningOut:
    cid = _case_id(case_id)
    patient = _own_case(cases, cid, caller)
    # The signer is the session's own address: the patient, or its delegate signing with its own key and nonce.
    message, summary = _run(lambda: cases.approval(cid, until, str(caller.address), svc.chain_time() + SIGNATURE_LIFETIME))
    return SigningOut(summary=_as_signer(summary, patient, caller), typed_data=_jsonable(message.full()))


@router.post("/{case_id}/approval", response_model=TxOut, summary="Relay the patient's (or its delegate's) signed approval (this API must be the requester's; patient session)", responses=ERRORS)
def approve(case_id: PathCaseId, body: SignedIn, caller: Caller = Depends(patient_only()), cases: CaseService = Depends(case_service)) -> TxOut:
    cid = _case_id(case_id)
    _own_case(cases, cid, caller)
    signed = cases.cases.approve_message(cid, body.until, body.deadline, str(caller.address), nonce=body.nonce)
    return _tx(_run(lambda: cases.relay(signed, bytes.fromhex(body.signature[2:]))))


@router.get("/{case_id}/refusal", response_model=SigningOut, summary="What the patient (or its delegate) signs to refuse (patient session)", responses=ERRORS)
def refusal(case_id: PathCaseId, caller: Caller = Depends(patient_only()), cases: CaseService = Depends(case_service), svc: Services = Depends(services)) -> SigningOut:
    cid = _case_id(case_id)
    patient = _own_case(cases, cid, caller)
    message, summary = _run(lambda: cases.refusal(cid, str(caller.address), svc.chain_time() + SIGNATURE_LIFETIME))
    return SigningOut(summary=_as_signer(summary, patient, caller), typed_data=_jsonable(message.full()))


@router.post("/{case_id}/refusal", response_model=TxOut, summary="Relay the patient's (or its delegate's) signed refusal (patient session)", responses=ERRORS)
def refuse(case_id: PathCaseId, body: SignedIn, caller: Caller = Depends(patient_only()), cases: CaseService = Depends(case_service)) -> TxOut:
    cid = _case_id(case_id)
    _own_case(cases, cid, caller)
    signed = cases.cases.refuse_message(cid, body.deadline, str(caller.address), nonce=body.nonce)
    return _tx(_run(lambda: cases.relay(signed, bytes.fromhex(body.signature[2:]))))


def _own_case(cases: CaseService, case_id: bytes, caller: Caller) -> str:
    """The case's patient, when the session is that patient or the patient's current delegate (asked of the chain now)."""
    info = _run(lambda: cases.info(case_id))
    if not caller.acts_for(info.patient):
        raise forbidden(_("Case {case} is not a case of {patient}, nor of a patient {patient} is the delegate of").format(case="0x" + case_id.hex(), patient=caller.address))
    return str(info.patient)


def _patient_viewer(cases: CaseService, case_id: bytes, caller: Caller) -> str | None:
    """Whom a patient session sees the case as: its patient when it acts for them, else itself (then refused as a stranger)."""
    info = _run(lambda: cases.info(case_id))
    return str(info.patient) if caller.acts_for(info.patient) else caller.address


def _as_signer(summary: str, patient: str, caller: Caller) -> str:
    if caller.is_self(patient):
        return summary
    return _("As delegate of patient {patient}, you ({signer}) sign for the patient: {summary}").format(patient=patient, signer=caller.address, summary=summary)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
