"""E-prescriptions (issue 14): prescribers issue and cancel, pharmacies take presentations (a patient's signature
relayed, or a printed token), verify, read the prescription and dispense; patients see their prescriptions.

A thin router over care/prescriptions.py. The contract decides; its refusals become problems here (unknown
prescription: 404; the request's own values or a bad signature: 422; the prescription's or the pharmacy's state:
409; this institution lacks the role: 403).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field

from api.auth.callers import Caller, patient_or_scopes, require_scopes
from api.problems import ProblemError, forbidden, invalid, not_found, problem_responses
from api.routers.deps import services
from api.services import Services
from api.typed_messages import parse_typed, recover_signer, to_json
from api.types import ADDRESS_PATTERN
from api.upstream_errors import revert_problem
from care.prescriptions import DispenseRefused, IssueRequest, PrescriptionError, PrescriptionService, PrescriptionView
from care.prescriptions_words import presentation_summary, scope_words, state_words, status_words
from i18n import _
from ledger.errors import ContractRevert
from ledger.prescriptions import PRESENT_PRESCRIPTION_TYPES, DispenseStatus, Scope

router = APIRouter(prefix="/v1", tags=["prescriptions"])

PrescriptionId = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="0x + 64 hex digits")]
WRITE = problem_responses(401, 403, 404, 409, 422, 502, 503)
READ = problem_responses(401, 403, 404, 422, 502, 503)
_ROLE_REVERTS = {"MissingRole", "NotActiveMember", "NotPrescriber", "NotActiveProvider"}
_INPUT_REVERTS = {
    "InvalidPrescription", "InvalidValidity", "InvalidDispenseCount", "InvalidScope", "NotPrescriptionRecord", "NotDispenseRecord",
    "InvalidToken", "UnauthorizedSigner", "ExpiredSignature", "InvalidAccountNonce", "ECDSAInvalidSignature", "ECDSAInvalidSignatureLength",
}


# --- models -------------------------------------------------------------------------------------------------
class IssueIn(BaseModel):
    patient: str = Field(pattern=ADDRESS_PATTERN)
    medication_request: dict[str, Any] = Field(description="FHIR MedicationRequest")
    valid_from: int | None = Field(default=None, ge=0, le=2**40 - 1, description="unix time; default now")
    valid_until: int = Field(ge=1, le=2**40 - 1)
    repeats: int = Field(default=0, ge=0, le=254, description="numberOfRepeatsAllowed")
    min_interval_seconds: int = Field(default=0, ge=0, le=2**32 - 1)
    scope: Literal["ANY_PHARMACY", "COUNTRY", "NAMED_PHARMACY"] = "ANY_PHARMACY"
    country: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    pharmacy: str = Field(default="0x" + "00" * 20, pattern=ADDRESS_PATTERN)
    single_dispense: bool = False
    print_token: bool = False


class StateOut(BaseModel):
    prescription_id: str
    patient: str
    prescriber: str
    prescriber_name: str | None
    record_id: str
    valid_from: int
    valid_until: int
    dispenses_allowed: int
    dispensed: int
    remaining: int
    min_interval_seconds: int
    scope: str
    scope_words: str
    single_dispense: bool
    cancelled: bool
    token_unused: bool
    words: str


class DispenseOut(BaseModel):
    number: int
    dispenses_allowed: int
    pharmacy: str
    pharmacy_name: str | None
    record_id: str
    time: int
    transaction_hash: str


class PresentationOut(BaseModel):
    pharmacy: str
    pharmacy_name: str | None
    signer: str | None = Field(description="the patient or delegate; null for a printed token")
    transaction_hash: str


class ViewOut(BaseModel):
    state: StateOut
    presented_to: list[PresentationOut]
    dispenses: list[DispenseOut]


class IssuedOut(BaseModel):
    state: StateOut
    token: str | None = Field(default=None, description="the printed token's text: shown once, never stored")
    token_svg: str | None = None


class PrepareIn(BaseModel):
    pharmacy: str = Field(pattern=ADDRESS_PATTERN)
    signer: str | None = Field(default=None, pattern=ADDRESS_PATTERN, description="the delegate, when not the patient")


class PrepareOut(BaseModel):
    typed_data: dict[str, Any]
    summary: str


class PresentIn(BaseModel):
    typed_data: dict[str, Any]
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class TokenIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


class VerifyOut(BaseModel):
    status: str
    may_dispense: bool
    words: str
    state: StateOut | None


class DispenseIn(BaseModel):
    medication_dispense: dict[str, Any] = Field(description="FHIR MedicationDispense")


class DispensedOut(BaseModel):
    dispense: DispenseOut
    state: StateOut


# --- plumbing -----------------------------------------------------------------------------------------------
def prescriptions(svc: Services = Depends(services)) -> PrescriptionService:
    return svc._once("prescriptions", lambda: PrescriptionService(svc.ledger, svc.sender, svc.record_service))  # type: ignore[no-any-return]


def _id(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _problem(exc: Exception, me: str) -> ProblemError:
    if isinstance(exc, DispenseRefused):
        if exc.status == DispenseStatus.NOT_PHARMACY:
            return forbidden(str(exc))
        return ProblemError(409, "dispense-refused", _("Dispense not allowed"), str(exc), reason=exc.status.name)
    if isinstance(exc, PrescriptionError):
        return {"not_found": not_found, "invalid": invalid, "forbidden": forbidden}.get(exc.kind, lambda d: ProblemError(409, "prescription-refused", _("Refused"), d))(str(exc))
    assert isinstance(exc, ContractRevert)
    problem = revert_problem(exc)
    if exc.name == "UnknownPrescription":
        problem.status, problem.slug, problem.title = 404, "not-found", "Not found"
    elif exc.name in _ROLE_REVERTS:
        named = next((str(v) for k, v in exc.args_by_name.items() if k in ("account", "pharmacy")), me)
        problem.status = 403 if named.lower() == me.lower() else 409
    elif exc.name in _INPUT_REVERTS:
        problem.status = 422
    return problem


def _act(rx: PrescriptionService, action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except (PrescriptionError, ContractRevert) as exc:
        raise _problem(exc, rx.address) from None


def _state_out(svc: Services, s: Any) -> StateOut:
    return StateOut(
        prescription_id="0x" + s.prescription_id.hex(), patient=s.patient, prescriber=s.prescriber, prescriber_name=svc.member_name(s.prescriber),
        record_id="0x" + s.record_id.hex(), valid_from=s.valid_from, valid_until=s.valid_until, dispenses_allowed=s.dispenses_allowed,
        dispensed=s.dispensed, remaining=s.remaining, min_interval_seconds=s.min_interval, scope=s.scope.name,
        scope_words=scope_words(s, svc.member_name), single_dispense=s.single_dispense, cancelled=s.cancelled, token_unused=s.token_unused,
        words=state_words(s),
    )


def _dispense_out(svc: Services, d: Any) -> DispenseOut:
    return DispenseOut(
        number=d.dispensed, dispenses_allowed=d.dispenses_allowed, pharmacy=d.pharmacy, pharmacy_name=svc.member_name(d.pharmacy),
        record_id="0x" + d.dispense_record_id.hex(), time=d.timestamp, transaction_hash=d.transaction_hash,
    )


def _view_out(svc: Services, v: PrescriptionView) -> ViewOut:
    zero = "0x" + "00" * 20
    return ViewOut(
        state=_state_out(svc, v.state),
        presented_to=[PresentationOut(pharmacy=p.pharmacy, pharmacy_name=svc.member_name(p.pharmacy), signer=None if p.signer == zero else p.signer, transaction_hash=p.transaction_hash) for p in v.presented_to],
        dispenses=[_dispense_out(svc, d) for d in v.dispenses],
    )


def _require_party(caller: Caller, svc: Services, patient: str) -> None:
    # The one delegate check (Caller.acts_for: the patient, or its delegate on chain now), as every other router.
    if caller.is_patient and not caller.acts_for(patient):
        raise forbidden(_("a patient token only reaches the patient's own prescriptions (or those of the patient it is delegate for)"))


# --- prescriber ---------------------------------------------------------------------------------------------
@router.post("/prescriptions", status_code=status.HTTP_201_CREATED, response_model=IssuedOut, summary="Issue a prescription (PROVIDER with the patient's consent, scope write)", responses=WRITE)
def issue(body: IssueIn, _c: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> IssuedOut:
    request = IssueRequest(
        patient=body.patient, medication_request=body.medication_request, valid_from=body.valid_from, valid_until=body.valid_until, repeats=body.repeats,
        min_interval=body.min_interval_seconds, scope=Scope[body.scope], country=body.country, pharmacy=body.pharmacy, single_dispense=body.single_dispense,
        print_token=body.print_token,
    )
    done = _act(rx, lambda: rx.issue(request))
    return IssuedOut(state=_state_out(svc, done.state), token=done.token, token_svg=done.token_svg)


@router.post("/prescriptions/{prescription_id}/cancel", response_model=StateOut, summary="Cancel a prescription (its prescriber, scope write)", responses=WRITE)
def cancel(prescription_id: PrescriptionId, _c: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> StateOut:
    return _state_out(svc, _act(rx, lambda: rx.cancel(_id(prescription_id))))


@router.get("/prescriptions", response_model=list[ViewOut], summary="A patient's prescriptions (the patient, or scope read), or those issued here", responses=READ)
def list_prescriptions(
    patient: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None,
    caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions),
) -> list[ViewOut]:
    if caller.is_patient:
        patient = patient or caller.address
        _require_party(caller, svc, patient)  # type: ignore[arg-type]
    views = rx.of_patient(patient) if patient else rx.issued_here()
    return [_view_out(svc, v) for v in views]


@router.get("/prescriptions/{prescription_id}", response_model=ViewOut, summary="A prescription: used, left, where, when (its patient, or scope read)", responses=READ)
def get_prescription(prescription_id: PrescriptionId, caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> ViewOut:
    view = _act(rx, lambda: rx.view(_id(prescription_id)))
    _require_party(caller, svc, view.state.patient)
    return _view_out(svc, view)


# --- presentation -------------------------------------------------------------------------------------------
@router.post("/prescriptions/{prescription_id}/presentation/prepare", response_model=PrepareOut, summary="The PresentPrescription to sign, with plain words (the patient, or scope write)", responses=WRITE)
def prepare_presentation(prescription_id: PrescriptionId, body: PrepareIn, caller: Caller = Depends(patient_or_scopes("write", self_param=None)), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> PrepareOut:
    pid = _id(prescription_id)
    view = _act(rx, lambda: rx.view(pid))
    _require_party(caller, svc, view.state.patient)
    if caller.is_patient and body.signer and to_checksum_address(body.signer) != caller.address:
        raise forbidden(_("a patient session prepares messages for its own signature only"))
    signer = body.signer or (caller.address if caller.is_patient else view.state.patient)
    deadline = svc.chain_time() + svc.settings.consent_deadline_seconds
    message = rx.presentation_message(pid, body.pharmacy, signer, deadline)  # type: ignore[arg-type]
    summary = presentation_summary(pid, body.pharmacy, svc.member_name(body.pharmacy), view.state, svc.member_name(view.state.prescriber), deadline)
    return PrepareOut(typed_data=to_json(message.full()), summary=summary)


@router.post("/prescriptions/{prescription_id}/presentation", response_model=PresentationOut, summary="Relay a patient's signed PresentPrescription (the patient, or scope write)", responses=WRITE)
def present(prescription_id: PrescriptionId, body: PresentIn, caller: Caller = Depends(patient_or_scopes("write", self_param=None)), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> PresentationOut:
    message = parse_typed(body.typed_data, rx.rx.domain, "PresentPrescription", PRESENT_PRESCRIPTION_TYPES, "Prescriptions", "/v1/prescriptions/{id}/presentation/prepare")
    if bytes(message.message["prescriptionId"]) != _id(prescription_id):
        raise invalid(_("the signed prescription id is not the one in the path"))
    signature = bytes.fromhex(body.signature[2:])
    signer = recover_signer(message, signature)
    if caller.is_patient and caller.address != to_checksum_address(signer):
        raise forbidden(_("a patient session relays only its own signature"))
    done = _act(rx, lambda: rx.relay_presentation(message, signature))
    return PresentationOut(pharmacy=done.pharmacy, pharmacy_name=svc.member_name(done.pharmacy), signer=done.signer, transaction_hash=done.transaction_hash)


@router.post("/prescriptions/tokens", response_model=PresentationOut, summary="Present a printed prescription token as this pharmacy (scope write)", responses=WRITE)
def present_token(body: TokenIn, _c: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> PresentationOut:
    done = _act(rx, lambda: rx.present_token(body.token))
    return PresentationOut(pharmacy=done.pharmacy, pharmacy_name=svc.member_name(done.pharmacy), signer=None, transaction_hash=done.transaction_hash)


# --- pharmacy -----------------------------------------------------------------------------------------------
@router.get("/prescriptions/{prescription_id}/verify", response_model=VerifyOut, summary="May this pharmacy (or `pharmacy`) dispense now? (scope read)", responses=READ)
def verify(prescription_id: PrescriptionId, pharmacy: Annotated[str | None, Query(pattern=ADDRESS_PATTERN)] = None, _c: Caller = Depends(require_scopes("read")), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> VerifyOut:
    found, state = rx.verify(_id(prescription_id), pharmacy)
    return VerifyOut(status=found.name, may_dispense=found == DispenseStatus.ALLOWED, words=status_words(found, state), state=_state_out(svc, state) if state else None)


@router.get("/prescriptions/{prescription_id}/request", summary="The MedicationRequest, read under the prescription (prescriber or presented-to pharmacy, scope read)", responses=READ)
def read_request(prescription_id: PrescriptionId, _c: Caller = Depends(require_scopes("read")), rx: PrescriptionService = Depends(prescriptions)) -> dict[str, Any]:
    read = _act(rx, lambda: rx.read(_id(prescription_id)))
    return {"record_id": "0x" + read.record_id.hex(), "resource": read.resource, "access_logged": read.access_logged}


@router.post("/prescriptions/{prescription_id}/dispenses", status_code=status.HTTP_201_CREATED, response_model=DispensedOut, summary="Record a dispense: the MedicationDispense as a record, then the count on chain (scope write)", responses=WRITE)
def dispense(prescription_id: PrescriptionId, body: DispenseIn, _c: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), rx: PrescriptionService = Depends(prescriptions)) -> DispensedOut:
    done = _act(rx, lambda: rx.dispense(_id(prescription_id), body.medication_dispense))
    return DispensedOut(dispense=_dispense_out(svc, done.dispense), state=_state_out(svc, done.state))
