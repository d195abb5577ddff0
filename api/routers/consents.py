"""Consents: prepare the EIP-712 message a patient signs, relay it (after checking the signature), read and export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from api import consent_messages as cm
from api.auth.callers import Caller, patient_or_scopes
from api.fhir_consent import FhirConsentOut, consent_resource
from api.problems import conflict, forbidden, invalid, not_found, problem_responses
from api.relaying import ReceiptRecorder
from api.routers.deps import services
from api.services import Services
from api.typed_messages import recover_signer, to_json
from api.types import ADDRESS_PATTERN, ADDRESS_RULES, Address, HexBytes, path_address
from crypto import HpkePublicKey, KeyFormatError
from i18n import _
from ledger.consent import UINT40_MAX, ConsentTerms
from ledger.eip712 import TypedMessage
from ledger.vocabulary import Category, Purpose, parse_categories, parse_purposes

router = APIRouter(prefix="/v1", tags=["consents"])


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"

CategoryName = Literal["LAB", "IMAGING", "ECG", "PRESCRIPTION", "NOTES", "DISCHARGE", "SUMMARY", "ALLERGIES", "MEDICATIONS", "IMMUNIZATIONS", "REFERRAL", "DISPENSE", "PROCEDURES", "DEMOGRAPHICS"]
PurposeName = Literal["TREATMENT", "PAYMENT", "RESEARCH", "PUBLIC_HEALTH", "EMERGENCY"]
assert set(CategoryName.__args__) == {c.name for c in Category} and set(PurposeName.__args__) == {p.name for p in Purpose}  # type: ignore[attr-defined]
Uint40 = Annotated[int, Field(ge=0, le=UINT40_MAX)]
PathAddress = Annotated[str, Path(pattern=ADDRESS_PATTERN, json_schema_extra=ADDRESS_RULES)]


# --- request / response models -----------------------------------------------------------------------
class PrepareGrant(BaseModel):
    action: Literal["grant"]
    patient: Address
    grantee: Address
    categories: list[CategoryName] = Field(min_length=1)
    purposes: list[PurposeName] = Field(min_length=1)
    valid_from: Uint40 = Field(description="unix seconds")
    valid_until: Uint40 = Field(description="unix seconds, after valid_from")
    data_from: Uint40 | None = Field(default=None, description="only records dated from here (unix seconds)")
    data_until: Uint40 | None = Field(default=None, description="only records dated until here; absent = open-ended")
    signer: Address | None = Field(default=None, description="the patient's delegate, when the delegate signs")

    @model_validator(mode="after")
    def _periods(self) -> "PrepareGrant":
        if self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        if self.data_until and (self.data_from or 0) >= self.data_until:
            raise ValueError("data_from must be before data_until")
        return self


class PrepareRevoke(BaseModel):
    action: Literal["revoke"]
    patient: Address
    grantee: Address
    signer: Address | None = Field(default=None, description="the patient's delegate, when the delegate signs")


class PrepareRegister(BaseModel):
    action: Literal["register"]
    patient: Address
    hpke_public_key: HexBytes = Field(description="the wallet's HPKE public key (suite id || raw key)")


class PrepareDelegate(BaseModel):
    action: Literal["delegate"]
    patient: Address
    delegate: Address | None = Field(description="the new delegate, or null to remove the current one")


PrepareRequest = Annotated[PrepareGrant | PrepareRevoke | PrepareRegister | PrepareDelegate, Field(discriminator="action")]


class TypedData(BaseModel):
    types: dict[str, list[dict[str, str]]]
    primaryType: str
    domain: dict[str, Any]
    message: dict[str, Any]


class PrepareOut(BaseModel):
    typed_data: TypedData = Field(description="EIP-712 typed data to sign with eth_signTypedData_v4")
    summary: str = Field(description="what signing means, in plain words")


class RelayRequest(BaseModel):
    typed_data: dict[str, Any] = Field(description="the typed data from /v1/consents/prepare, as signed")
    signature: HexBytes = Field(description="65-byte EIP-712 signature")


class RelayOut(BaseModel):
    transaction_hash: str
    block_number: int
    consent_id: str | None = Field(default=None, description="for grants: the new consent's id")


class ConsentOut(BaseModel):
    grantee: str
    grantee_name: str | None
    categories: list[str]
    purposes: list[str]
    status: str
    valid_from: int
    valid_until: int
    data_from: int
    data_until: int
    version: int
    consent_id: str | None


# --- helpers -------------------------------------------------------------------------------------------
def _require_acting_patient(caller: Caller, allowed: set[str]) -> None:
    if caller.is_patient and caller.address not in allowed:
        raise forbidden(_("a patient token may only prepare or relay messages for its own address (as patient or as that patient's delegate)"))


def _build(svc: Services, body: PrepareGrant | PrepareRevoke | PrepareRegister | PrepareDelegate, deadline: int) -> tuple[TypedMessage, str | None]:
    ledger = svc.consents
    if isinstance(body, PrepareRegister):
        try:
            key = HpkePublicKey.from_hex(body.hpke_public_key).to_bytes()
        except KeyFormatError as exc:
            raise invalid(_("hpke_public_key: {exc}").format(exc=exc)) from None
        return ledger.register_message(body.patient, key, deadline), None
    if isinstance(body, PrepareDelegate):
        if body.delegate == body.patient:
            raise invalid(_("a patient cannot be their own delegate"))
        if body.delegate is None and ledger.delegate_of(body.patient) is None:
            raise conflict("no-delegate", _("No delegate"), _("patient {patient} has no delegate to remove").format(patient=body.patient))
        return ledger.delegate_message(body.patient, body.delegate, deadline), None
    signer = body.signer if body.signer and body.signer != body.patient else None
    if signer is not None and signer != ledger.delegate_of(body.patient):
        raise invalid(_("signer {signer} is not the current delegate of patient {patient}").format(signer=signer, patient=body.patient))
    if isinstance(body, PrepareRevoke):
        if ledger.consent(body.patient, body.grantee).status != "ACTIVE":
            raise conflict("no-active-consent", _("No active consent"), _("patient {patient} has no active consent for {grantee} to revoke").format(patient=body.patient, grantee=body.grantee))
        return ledger.revoke_message(body.patient, body.grantee, deadline, signer=signer), signer
    grantee = svc.member(body.grantee)
    if grantee is None or not grantee.active:
        raise invalid(_("grantee {grantee} is not an active consortium member").format(grantee=body.grantee))
    terms = ConsentTerms(
        grantee=body.grantee, categories=parse_categories(list(body.categories)), purposes=parse_purposes(list(body.purposes)),
        valid_from=body.valid_from, valid_until=body.valid_until, data_from=body.data_from or 0, data_until=body.data_until or 0,
    )
    return ledger.grant_message(body.patient, terms, deadline, signer=signer), signer


# --- routes --------------------------------------------------------------------------------------------
@router.post(
    "/consents/prepare", response_model=PrepareOut, summary="Build the EIP-712 message a patient signs (patient self or scope relay)",
    responses=problem_responses(401, 403, 409, 413, 422, 502, 503),
)
def prepare(body: PrepareRequest, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)), svc: Services = Depends(services)) -> PrepareOut:
    acting = {body.patient} | ({body.signer} if isinstance(body, (PrepareGrant, PrepareRevoke)) and body.signer else set())
    _require_acting_patient(caller, acting)
    message, signer = _build(svc, body, svc.chain_time() + svc.settings.consent_deadline_seconds)
    return PrepareOut(typed_data=TypedData.model_validate(to_json(message.full())), summary=cm.summary(message, svc.member_name, signer))


@router.post(
    "/consents/relay", response_model=RelayOut, summary="Relay a patient-signed consent message (patient or delegate self, or scope relay)",
    responses=problem_responses(401, 403, 409, 413, 422, 502, 503),
)
def relay(body: RelayRequest, caller: Caller = Depends(patient_or_scopes("relay", self_param=None)), svc: Services = Depends(services)) -> RelayOut:
    ledger = svc.consents
    message = cm.parse_relayed(body.typed_data, ledger.domain)
    allowed = cm.allowed_signers(ledger, message)
    _require_acting_patient(caller, allowed)
    signer = recover_signer(message, body.signature)
    kind = message.primary_type
    if signer not in allowed:
        svc.metrics.relays.labels(kind, "bad_signature").inc()
        raise invalid(_("the signature recovers to {signer}, which is neither the patient nor its delegate; nothing was sent").format(signer=signer))
    if message.message["deadline"] < svc.chain_time():
        svc.metrics.relays.labels(kind, "expired").inc()
        raise invalid(_("the signed message's deadline has passed; prepare and sign it again"))
    current = ledger.nonce(signer)
    if message.message["nonce"] != current:
        svc.metrics.relays.labels(kind, "stale_nonce").inc()
        raise conflict("stale-nonce", _("Message already used or out of date"), _("the message carries nonce {nonce} but {signer}'s next nonce is {current}; prepare and sign it again").format(nonce=message.message['nonce'], signer=signer, current=current))
    recorder = ReceiptRecorder(svc.sender)
    try:
        consent_id = ledger.relay(recorder, message, bytes.fromhex(body.signature[2:]))  # type: ignore[arg-type]
    except Exception:
        svc.metrics.relays.labels(kind, "refused").inc()
        raise
    svc.metrics.relays.labels(kind, "relayed").inc()
    receipt = recorder.receipt
    return RelayOut(transaction_hash=receipt["transactionHash"].to_0x_hex(), block_number=receipt["blockNumber"], consent_id=("0x" + consent_id.hex()) if consent_id else None)


def _granted_logs(svc: Services, patient: str, grantee: str | None = None) -> list[Any]:
    filters: dict[str, Any] = {"patient": patient}
    if grantee:
        filters["grantee"] = grantee
    return svc.ledger.events("ConsentLedger", "ConsentGranted", **filters)


@router.get(
    "/patients/{address}/consents", response_model=list[ConsentOut], summary="A patient's consents as the ledger holds them (the patient or its current delegate, or scope read / audit)",
    responses=problem_responses(401, 403, 422, 502, 503),
)
def list_consents(address: PathAddress, _caller: Caller = Depends(patient_or_scopes("read", "audit")), svc: Services = Depends(services)) -> list[ConsentOut]:
    patient = path_address(address)
    grantees = list(dict.fromkeys(event.args["grantee"] for event in _granted_logs(svc, patient)))
    out: list[ConsentOut] = []
    for grantee in grantees:
        consent = svc.consents.consent(patient, grantee)
        consent_id = bytes(svc.consents.contract.functions.currentConsentId(patient, grantee).call())
        out.append(ConsentOut(grantee_name=svc.member_name(grantee), consent_id="0x" + consent_id.hex() if any(consent_id) else None, **consent.model_dump(exclude={"patient"})))
    return out


class DelegateOut(BaseModel):
    patient: str
    delegate: str | None = Field(description="who may act for the patient now (ConsentLedger.delegateOf); null when nobody")


@router.get(
    "/patients/{address}/delegate", response_model=DelegateOut,
    summary="The patient's current delegate, as the chain says now (the patient or its current delegate, or scope read / audit)",
    responses=problem_responses(401, 403, 422, 502, 503),
)
def get_delegate(address: PathAddress, _caller: Caller = Depends(patient_or_scopes("read", "audit")), svc: Services = Depends(services)) -> DelegateOut:
    # A session that is neither the patient nor its delegate is refused (403) by the dependency: the answer to
    # "am I this patient's delegate?" without revealing who is.
    patient = path_address(address)
    delegate = svc.consents.delegate_of(patient)
    return DelegateOut(patient=patient, delegate=to_checksum_address(delegate) if delegate else None)


@router.get(
    "/patients/{address}/consents/{grantee}/fhir", summary="One consent as a FHIR R4 Consent resource (the patient or its current delegate, or scope read / audit)",
    response_model=FhirConsentOut, response_class=FhirJSONResponse, responses={200: {"description": "FHIR R4 Consent"}, **problem_responses(401, 403, 404, 422, 502, 503)},
)
def consent_fhir(address: PathAddress, grantee: PathAddress, _caller: Caller = Depends(patient_or_scopes("read", "audit")), svc: Services = Depends(services)) -> JSONResponse:
    patient, grantee = path_address(address), path_address(grantee, "grantee")
    consent = svc.consents.consent(patient, grantee)
    if consent.status == "NONE":
        raise not_found(_("patient {patient} never granted consent to {grantee}").format(patient=patient, grantee=grantee))
    logs = _granted_logs(svc, patient, grantee)
    granted_at = svc.block_timestamp(logs[-1].block_number) if logs else None
    consent_id = bytes(svc.consents.contract.functions.currentConsentId(patient, grantee).call())
    resource = consent_resource(consent, consent_id, svc.member_name(grantee), granted_at)
    return FhirJSONResponse(resource)


