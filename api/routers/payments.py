"""E-card health payments: programmes, cards, pre-authorisations, claims and cash allowances, and the patient's view.

The institution acts with its own key: as a payer (programmes, cards, escrow, approvals) or as a provider
(pre-authorisations, claims). The contract enforces who may do what; its refusals become problems here
(this institution lacks the role: 403; unknown ids: 404; the request's own values: 422; the ledger's state: 409).
Patients read their cards and claims and confirm claims by signing ConfirmClaim in their wallet; this institution
relays the signature after checking it, so no gas is spent on a signature that cannot succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, status

from api import payment_messages as pm
from api.auth.callers import Caller, patient_or_scopes, require_scopes
from api.payment_models import (
    CardIn,
    CardOut,
    ClaimApproveIn,
    ClaimIn,
    ClaimOut,
    ConfirmationIn,
    ConfirmationOut,
    ConfirmationPrepareIn,
    ConfirmationPrepareOut,
    DisbursementIn,
    DisbursementOut,
    EligibilityOut,
    EmpanelIn,
    EmpanelOut,
    EscrowIn,
    EscrowOut,
    HistoryEntry,
    PaymentOut,
    PreAuthApproveIn,
    PreAuthIn,
    PreAuthOut,
    ProgrammeIn,
    ProgrammeOut,
    RejectIn,
    RenewIn,
    StatementEntry,
    StatementOut,
)
from api.problems import (
    ProblemError,
    conflict,
    forbidden,
    invalid,
    not_found,
    problem_responses,
)
from api.relaying import ReceiptRecorder
from api.routers.deps import services
from api.services import Services
from api.typed_messages import recover_signer, to_json
from api.types import ADDRESS_PATTERN, ADDRESS_RULES, path_address, record_id_bytes
from api.upstream_errors import revert_problem
from i18n import _
from ledger.errors import ContractRevert
from ledger.payments import (
    Card,
    Claim,
    ClaimStatus,
    HealthCardPayments,
    NewProgramme,
    Programme,
    code_text,
    format_amount,
)

router = APIRouter(prefix="/v1", tags=["payments"])
T = TypeVar("T")

PathAddress = Annotated[str, Path(pattern=ADDRESS_PATTERN, json_schema_extra=ADDRESS_RULES)]
ProgrammeId = Annotated[int, Path(ge=1, le=2**32 - 1)]
Id64 = Annotated[int, Path(ge=1, le=2**64 - 1)]

# Refusals naming an account: when it is this institution, it lacks the role (403); otherwise the other party's state (409).
_ROLE_REVERTS = {"NotActiveMember", "NotActivePayer", "NotProgrammePayer", "NotActiveProvider", "NotEmpanelled", "NotPreAuthParty"}
_UNKNOWN_REVERTS = {"UnknownProgramme", "UnknownCard", "UnknownPreAuth", "UnknownClaim"}
_INPUT_REVERTS = {
    "InvalidAddress", "InvalidName", "InvalidCurrency", "InvalidAmount", "InvalidCode", "InvalidPreAuthValidity", "InvalidExpiry",
    "UnknownRecord", "RecordPatientMismatch", "EvidenceNotAuthoredByClaimant", "PreAuthMismatch", "ClaimExceedsPreAuth", "ExpiredSignature", "UnauthorizedSigner",
    "ECDSAInvalidSignature", "ECDSAInvalidSignatureLength", "ECDSAInvalidSignatureS", "InvalidAccountNonce",
}

PAYER = problem_responses(401, 403, 404, 409, 413, 422, 502, 503)
READ = problem_responses(401, 403, 404, 422, 502, 503)


# --- plumbing ---------------------------------------------------------------------------------------------
def payments(svc: Services = Depends(services)) -> HealthCardPayments:
    # One wrapper per app (its event ABIs and error decoder are built once), opened lazily like the others.
    return svc._once("payments", lambda: HealthCardPayments(svc.ledger))  # type: ignore[no-any-return]


def _refusal(exc: ContractRevert, me: str) -> ProblemError:
    problem = revert_problem(exc)
    args = exc.args_by_name
    if exc.name in _ROLE_REVERTS:
        named = next((str(v) for k, v in args.items() if k in ("account", "provider")), "")
        mine = named.lower() == me.lower()
        problem.status = 403 if mine else 409
        if mine:
            problem.detail = _("this institution ({address}) may not do this: {reason}").format(address=me, reason=exc)
    elif exc.name in _UNKNOWN_REVERTS:
        problem.status, problem.slug, problem.title = 404, "not-found", "Not found"
    elif exc.name in _INPUT_REVERTS:
        problem.status = 422
    else:
        problem.status = 409
    return problem


@contextmanager
def _ledger_says(svc: Services) -> Iterator[None]:
    """Contract refusals as problems (caught at gas estimation, so nothing is spent); bodies are validated before."""
    try:
        yield
    except ContractRevert as exc:
        raise _refusal(exc, svc.address) from None


def _act(svc: Services, action: Callable[[], T]) -> T:
    with _ledger_says(svc):
        return action()


def _programme(pay: HealthCardPayments, programme_id: int) -> Programme:
    found = pay.programme(programme_id)
    if found is None:
        raise not_found(_("there is no programme {programme_id}").format(programme_id=programme_id))
    return found


def _card(pay: HealthCardPayments, card_id: int) -> Card:
    found = pay.card(card_id)
    if found is None:
        raise not_found(_("there is no card {card_id}").format(card_id=card_id))
    return found


def _claim(pay: HealthCardPayments, claim_id: int) -> Claim:
    found = pay.claim(claim_id)
    if found is None:
        raise not_found(_("there is no claim {claim_id}").format(claim_id=claim_id))
    return found


def _programme_out(svc: Services, p: Programme) -> ProgrammeOut:
    return ProgrammeOut(
        programme_id=p.programme_id, payer=p.payer, payer_name=svc.member_name(p.payer), name=p.name, currency=p.currency,
        default_annual_limit=p.default_annual_limit, auto_approval_threshold=p.auto_approval_threshold, pre_auth_validity_seconds=p.pre_auth_validity,
        created_at=p.created_at, escrow_balance=p.escrow,
    )


def _card_out(pay: HealthCardPayments, card: Card) -> CardOut:
    programme = _programme(pay, card.programme_id)
    eligible = pay.eligibility(card.card_id).eligible
    return CardOut(programme_name=programme.name, currency=programme.currency, remaining=card.remaining, eligible=eligible, **card.model_dump())


def _claim_out(svc: Services, pay: HealthCardPayments, claim: Claim) -> ClaimOut:
    card = _card(pay, claim.card_id)
    programme = _programme(pay, card.programme_id)
    return ClaimOut(
        claim_id=claim.claim_id, card_id=claim.card_id, programme_id=programme.programme_id, programme_name=programme.name, currency=programme.currency,
        patient=card.patient, provider=claim.provider, provider_name=svc.member_name(claim.provider), status=claim.status, confirmed=claim.confirmed,
        amount=claim.amount, amount_text=format_amount(claim.amount, programme.currency), package_code=claim.package_code,
        record_id="0x" + claim.record_id.hex(), pre_auth_id=claim.pre_auth_id, submitted_at=claim.submitted_at, summary=pay.claim_summary(claim),
    )


def _pre_auth_out(pay: HealthCardPayments, pre_auth_id: int, auto_approved: bool = False) -> PreAuthOut:
    found = pay.pre_auth(pre_auth_id)
    if found is None:
        raise not_found(_("there is no pre-authorisation {pre_auth_id}").format(pre_auth_id=pre_auth_id))
    return PreAuthOut(auto_approved=auto_approved, **found.model_dump())


def _acting_for(svc: Services, patient: str) -> set[str]:
    """Who may act for a patient: the patient and, if any, the delegate named in ConsentLedger."""
    delegate = svc.consents.delegate_of(patient)
    return {patient} | ({to_checksum_address(delegate)} if delegate else set())


def _require_patient_party(caller: Caller, svc: Services, patient: str, what: str) -> None:
    if caller.is_patient and not caller.acts_for(patient):  # the patient, or its delegate on chain now
        raise forbidden(_("a patient token only reaches the patient's own {what} (or those of the patient it is delegate for)").format(what=what))


def _cards_of(pay: HealthCardPayments, patient: str) -> list[Card]:
    cards = [pay.card(int(event.args["cardId"])) for event in pay.ledger.events("HealthCardPayments", "CardIssued", patient=patient)]
    return [card for card in cards if card is not None]


# --- programmes (payer) -------------------------------------------------------------------------------------
@router.post("/payments/programmes", status_code=status.HTTP_201_CREATED, response_model=ProgrammeOut, summary="Create a programme with this institution as payer (scope write)", responses=PAYER)
def create_programme(body: ProgrammeIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> ProgrammeOut:
    new = NewProgramme(
        name=body.name, currency=body.currency, default_annual_limit=body.default_annual_limit, auto_approval_threshold=body.auto_approval_threshold,
        pre_auth_validity=body.pre_auth_validity_seconds,
    )
    programme_id = _act(svc, lambda: pay.create_programme(svc.sender, new))
    return _programme_out(svc, _programme(pay, programme_id))


@router.get("/payments/programmes/{programme_id}", response_model=ProgrammeOut, summary="One programme (scope read / audit)", responses=READ)
def get_programme(programme_id: ProgrammeId, _: Caller = Depends(require_scopes("read", "audit")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> ProgrammeOut:
    return _programme_out(svc, _programme(pay, programme_id))


@router.post("/payments/programmes/{programme_id}/providers", response_model=EmpanelOut, summary="Empanel or delist a provider (programme payer, scope write)", responses=PAYER)
def empanel(programme_id: ProgrammeId, body: EmpanelIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> EmpanelOut:
    _act(svc, lambda: pay.set_empanelled(svc.sender, programme_id, body.provider, body.empanelled))
    return EmpanelOut(programme_id=programme_id, provider=body.provider, provider_name=svc.member_name(body.provider), empanelled=pay.is_empanelled(programme_id, body.provider))


@router.post("/payments/programmes/{programme_id}/escrow", response_model=EscrowOut, summary="Fund the programme's escrow (programme payer, scope write)", responses=PAYER)
def fund_escrow(programme_id: ProgrammeId, body: EscrowIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> EscrowOut:
    after = _act(svc, lambda: pay.fund_escrow(svc.sender, programme_id, body.amount))
    return EscrowOut(programme_id=programme_id, amount=body.amount, escrow_balance=after)


@router.get("/payments/programmes/{programme_id}/statement", response_model=StatementOut, summary="The programme's escrow account rebuilt from its events (scope read / audit)", responses=READ)
def statement(programme_id: ProgrammeId, _: Caller = Depends(require_scopes("read", "audit")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> StatementOut:
    programme = _programme(pay, programme_id)
    found = pay.programme_statement(programme_id)
    entries = [
        StatementEntry(
            event=e.name, words=pm.event_words(e, found.currency, svc.member_name), block_number=e.block_number, time=svc.block_timestamp(e.block_number),
            transaction_hash=e.transaction_hash, args=to_json(e.args),
        )
        for e in found.events
    ]
    return StatementOut(
        programme_id=programme_id, name=programme.name, currency=found.currency, funded=found.funded, withdrawn=found.withdrawn, paid=found.paid,
        disbursed=found.disbursed, escrow=found.escrow, balanced=found.balanced, claims_paid=found.claims_paid, overridden_payments=found.overridden_payments,
        entries=entries,
    )


# --- cards (payer) --------------------------------------------------------------------------------------------
@router.post("/payments/programmes/{programme_id}/cards", status_code=status.HTTP_201_CREATED, response_model=CardOut, summary="Issue a card to a patient (programme payer, scope write)", responses=PAYER)
def issue_card(programme_id: ProgrammeId, body: CardIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> CardOut:
    card_id = _act(svc, lambda: pay.issue_card(svc.sender, programme_id, body.patient, body.valid_until, body.annual_limit))
    return _card_out(pay, _card(pay, card_id))


@router.post("/payments/cards/{card_id}/renew", response_model=CardOut, summary="Renew a card: new period, limit and validity (programme payer, scope write)", responses=PAYER)
def renew_card(card_id: Id64, body: RenewIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> CardOut:
    _act(svc, lambda: pay.renew_card(svc.sender, card_id, body.valid_until, body.annual_limit))
    return _card_out(pay, _card(pay, card_id))


@router.post("/payments/cards/{card_id}/suspend", response_model=CardOut, summary="Suspend a card (programme payer, scope write)", responses=PAYER)
def suspend_card(card_id: Id64, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> CardOut:
    _act(svc, lambda: pay.suspend_card(svc.sender, card_id))
    return _card_out(pay, _card(pay, card_id))


@router.post("/payments/cards/{card_id}/reactivate", response_model=CardOut, summary="Reactivate a suspended card (programme payer, scope write)", responses=PAYER)
def reactivate_card(card_id: Id64, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> CardOut:
    _act(svc, lambda: pay.reactivate_card(svc.sender, card_id))
    return _card_out(pay, _card(pay, card_id))


@router.get("/payments/cards/{card_id}", response_model=CardOut, summary="One card (the card's patient, or scope read / audit)", responses=READ)
def get_card(card_id: Id64, caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> CardOut:
    card = _card(pay, card_id)
    _require_patient_party(caller, svc, card.patient, "cards")
    return _card_out(pay, card)


@router.get("/payments/cards/{card_id}/eligibility", response_model=EligibilityOut, summary="What a provider checks before treating (scope read)", responses=READ)
def eligibility(card_id: Id64, _: Caller = Depends(require_scopes("read")), pay: HealthCardPayments = Depends(payments)) -> EligibilityOut:
    _card(pay, card_id)
    found = pay.eligibility(card_id)
    return EligibilityOut(card_id=card_id, eligible=found.eligible, remaining=found.remaining, valid_until=found.valid_until)


@router.post("/payments/cards/{card_id}/disbursements", status_code=status.HTTP_201_CREATED, response_model=DisbursementOut, summary="Pay the patient a cash allowance (programme payer, scope write)", responses=PAYER)
def disburse(card_id: Id64, body: DisbursementIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> DisbursementOut:
    done = _act(svc, lambda: pay.disburse_cash(svc.sender, card_id, body.purpose_code, body.amount))
    return DisbursementOut.model_validate(done.model_dump())


@router.get("/payments/cards/{card_id}/history", response_model=list[HistoryEntry], summary="Everything that happened to a card, in plain words (the card's patient, or scope read / audit)", responses=READ)
def card_history(card_id: Id64, caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> list[HistoryEntry]:
    card = _card(pay, card_id)
    _require_patient_party(caller, svc, card.patient, "cards")
    currency = _programme(pay, card.programme_id).currency
    return [
        HistoryEntry(
            event=e.name, words=pm.event_words(e, currency, svc.member_name, card.patient), block_number=e.block_number,
            time=svc.block_timestamp(e.block_number), transaction_hash=e.transaction_hash,
        )
        for e in pay.card_history(card_id)
    ]


# --- pre-authorisations ---------------------------------------------------------------------------------------
@router.post("/payments/pre-auths", status_code=status.HTTP_201_CREATED, response_model=PreAuthOut, summary="Request pre-authorisation (empanelled provider, scope write)", responses=PAYER)
def request_pre_auth(body: PreAuthIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> PreAuthOut:
    decision = _act(svc, lambda: pay.request_pre_auth(svc.sender, body.card_id, body.package_code, body.amount))
    return _pre_auth_out(pay, decision.pre_auth_id, decision.auto_approved)


@router.get("/payments/pre-auths/{pre_auth_id}", response_model=PreAuthOut, summary="One pre-authorisation (scope read / audit)", responses=READ)
def get_pre_auth(pre_auth_id: Id64, _: Caller = Depends(require_scopes("read", "audit")), pay: HealthCardPayments = Depends(payments)) -> PreAuthOut:
    return _pre_auth_out(pay, pre_auth_id)


@router.post("/payments/pre-auths/{pre_auth_id}/approve", response_model=PreAuthOut, summary="Approve a pending pre-authorisation until expires_at (programme payer, scope write)", responses=PAYER)
def approve_pre_auth(pre_auth_id: Id64, body: PreAuthApproveIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> PreAuthOut:
    _act(svc, lambda: pay.approve_pre_auth(svc.sender, pre_auth_id, body.expires_at))
    return _pre_auth_out(pay, pre_auth_id)


@router.post("/payments/pre-auths/{pre_auth_id}/reject", response_model=PreAuthOut, summary="Reject a pending pre-authorisation (programme payer, scope write)", responses=PAYER)
def reject_pre_auth(pre_auth_id: Id64, body: RejectIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> PreAuthOut:
    _act(svc, lambda: pay.reject_pre_auth(svc.sender, pre_auth_id, body.reason_code))
    return _pre_auth_out(pay, pre_auth_id)


# --- claims ---------------------------------------------------------------------------------------------------
@router.post("/payments/claims", status_code=status.HTTP_201_CREATED, response_model=ClaimOut, summary="Submit a claim evidenced by an anchored record (empanelled provider, scope write)", responses=PAYER)
def submit_claim(body: ClaimIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> ClaimOut:
    record_id = record_id_bytes(body.record_id)
    claim_id = _act(svc, lambda: pay.submit_claim(svc.sender, body.card_id, record_id, body.package_code, body.amount, body.pre_auth_id))
    return _claim_out(svc, pay, _claim(pay, claim_id))


@router.get("/payments/claims/{claim_id}", response_model=ClaimOut, summary="One claim with its summary in plain words (the claim's patient, or scope read / audit)", responses=READ)
def get_claim(claim_id: Id64, caller: Caller = Depends(patient_or_scopes("read", "audit", self_param=None)), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> ClaimOut:
    claim = _claim(pay, claim_id)
    _require_patient_party(caller, svc, _card(pay, claim.card_id).patient, "claims")
    return _claim_out(svc, pay, claim)


@router.post("/payments/claims/{claim_id}/approve", response_model=PaymentOut, summary="Approve a claim and pay the provider from escrow (programme payer, scope write)", responses=PAYER)
def approve_claim(claim_id: Id64, body: ClaimApproveIn | None = None, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> PaymentOut:
    override = body.override_confirmation if body else False
    payment = _act(svc, lambda: pay.approve_claim(svc.sender, claim_id, override))
    currency = _programme(pay, payment.programme_id).currency
    return PaymentOut(
        claim_id=claim_id, paid=True, amount=payment.amount, currency=currency, provider=payment.provider, confirmation_overridden=payment.confirmation_overridden,
        escrow_after=payment.escrow_after, transaction_hash=payment.transaction_hash,
    )


@router.post("/payments/claims/{claim_id}/reject", response_model=ClaimOut, summary="Reject a submitted claim (programme payer, scope write)", responses=PAYER)
def reject_claim(claim_id: Id64, body: RejectIn, _: Caller = Depends(require_scopes("write")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> ClaimOut:
    _act(svc, lambda: pay.reject_claim(svc.sender, claim_id, body.reason_code))
    return _claim_out(svc, pay, _claim(pay, claim_id))


def _open_claim(claim: Claim) -> None:
    if claim.status != ClaimStatus.SUBMITTED.name:
        raise conflict("claim-closed", _("Claim no longer open"), _("claim {claim_id} is {status}; only submitted claims can be confirmed").format(claim_id=claim.claim_id, status=claim.status.lower()))
    if claim.confirmed:
        raise conflict("claim-already-confirmed", _("Claim already confirmed"), _("claim {claim_id} is already confirmed").format(claim_id=claim.claim_id))


@router.post(
    "/payments/claims/{claim_id}/confirmation/prepare", response_model=ConfirmationPrepareOut,
    summary="Build the ConfirmClaim message the patient signs (the claim's patient or delegate, or scope relay)", responses=PAYER,
)
def prepare_confirmation(
    claim_id: Id64, body: ConfirmationPrepareIn | None = None, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)),
    svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments),
) -> ConfirmationPrepareOut:
    claim = _claim(pay, claim_id)
    patient = _card(pay, claim.card_id).patient
    _require_patient_party(caller, svc, patient, "claims")
    signer = (body.signer if body else None) or (caller.address if caller.is_patient else None) or patient
    if caller.is_patient and signer != caller.address:
        raise forbidden(_("a patient session prepares messages for its own signature only"))
    if signer not in _acting_for(svc, patient):
        raise invalid(_("signer {signer} is neither the patient {patient} nor the patient's delegate").format(signer=signer, patient=patient))
    _open_claim(claim)
    out = _claim_out(svc, pay, claim)
    message = pay.confirmation_message(claim_id, svc.chain_time() + svc.settings.consent_deadline_seconds, signer=signer)
    return ConfirmationPrepareOut(typed_data=to_json(message.full()), summary=pm.confirmation_summary(message, out.summary, signer), claim=out)


@router.post(
    "/payments/claims/{claim_id}/confirmation", response_model=ConfirmationOut,
    summary="Relay the patient's signed ConfirmClaim (the claim's patient or delegate, or scope relay)", responses=PAYER,
)
def relay_confirmation(
    claim_id: Id64, body: ConfirmationIn, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)),
    svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments),
) -> ConfirmationOut:
    claim = _claim(pay, claim_id)
    patient = _card(pay, claim.card_id).patient
    allowed = _acting_for(svc, patient)
    _require_patient_party(caller, svc, patient, "claims")
    message = pm.parse_confirmation(body.typed_data, pay.domain)
    m = message.message
    terms = {"claimId": claim_id, "patient": patient, "provider": claim.provider, "recordId": claim.record_id, "amount": claim.amount}
    wrong = [name for name, value in terms.items() if m[name] != value] + ([] if code_text(m["packageCode"]) == claim.package_code else ["packageCode"])
    if wrong:
        raise invalid(_("the signed message does not match claim {claim_id} as the ledger holds it ({fields}); nothing was sent").format(claim_id=claim_id, fields=', '.join(wrong)))
    signer = recover_signer(message, body.signature)
    if signer not in allowed:
        svc.metrics.relays.labels("ConfirmClaim", "bad_signature").inc()
        raise invalid(_("the signature recovers to {signer}, which is neither the patient nor its delegate; nothing was sent").format(signer=signer))
    _open_claim(claim)
    if m["deadline"] < svc.chain_time():
        svc.metrics.relays.labels("ConfirmClaim", "expired").inc()
        raise invalid(_("the signed message's deadline has passed; prepare and sign it again"))
    current = pay.nonce(signer)
    if m["nonce"] != current:
        svc.metrics.relays.labels("ConfirmClaim", "stale_nonce").inc()
        raise conflict("stale-nonce", _("Message already used or out of date"), _("the message carries nonce {nonce} but {signer}'s next nonce is {current}; prepare and sign it again").format(nonce=m['nonce'], signer=signer, current=current))
    recorder = ReceiptRecorder(svc.sender)
    try:
        _act(svc, lambda: pay.relay_confirmation(recorder, message, bytes.fromhex(body.signature[2:])))  # type: ignore[arg-type]
    except ProblemError:
        svc.metrics.relays.labels("ConfirmClaim", "refused").inc()
        raise
    svc.metrics.relays.labels("ConfirmClaim", "relayed").inc()
    receipt = recorder.receipt
    return ConfirmationOut(claim_id=claim_id, signer=signer, transaction_hash=receipt["transactionHash"].to_0x_hex(), block_number=receipt["blockNumber"])


# --- the patient's view -------------------------------------------------------------------------------------------
@router.get("/patients/{address}/cards", response_model=list[CardOut], summary="The patient's cards across programmes (patient self, or scope read / audit)", responses=READ)
def patient_cards(address: PathAddress, _: Caller = Depends(patient_or_scopes("read", "audit")), pay: HealthCardPayments = Depends(payments)) -> list[CardOut]:
    return [_card_out(pay, card) for card in _cards_of(pay, path_address(address))]


@router.get("/patients/{address}/claims", response_model=list[ClaimOut], summary="Claims on the patient's cards, newest first (patient self, or scope read / audit)", responses=READ)
def patient_claims(address: PathAddress, _: Caller = Depends(patient_or_scopes("read", "audit")), svc: Services = Depends(services), pay: HealthCardPayments = Depends(payments)) -> list[ClaimOut]:
    card_ids = [card.card_id for card in _cards_of(pay, path_address(address))]
    if not card_ids:
        return []
    events = pay.ledger.events("HealthCardPayments", "ClaimSubmitted", cardId=card_ids)
    claim_ids = sorted({int(event.args["claimId"]) for event in events}, reverse=True)
    return [_claim_out(svc, pay, _claim(pay, claim_id)) for claim_id in claim_ids]
