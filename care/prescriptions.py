"""E-prescriptions (issue 14), the service an institution runs, as prescriber or as pharmacy; no HTTP in here.

    prescriber  issue: the MedicationRequest is stored as an ordinary encrypted record (category PRESCRIPTION,
                anchored on its own), then `issue` on chain; optionally a printed one-time token (QR)
                cancel; see whether and where it was dispensed (the dispense records are readable under it)
    pharmacy    relay a patient's signed PresentPrescription (checked first: no gas for a signature that cannot
                succeed), or present a printed token; verify; read the MedicationRequest under the prescription
                (logged as CareRecordsAccessed, the key released by the prescriber's API); dispense: its own
                MedicationDispense stored as an encrypted record (category DISPENSE, under the consent the
                patient gave at presentation), then `dispense` on chain, which counts it
    anyone      the state: used / left, where and when

Of two pharmacies racing for the last dispense the chain admits exactly one; the other gets `DispenseRefused`
(its MedicationDispense record stays anchored but counts for nothing, and cannot be claimed twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address
from pydantic import BaseModel, Field

from care.prescriptions_token import decode as decode_token, encode as encode_token, qr_svg
from care.prescriptions_words import status_words
from i18n import _
from ledger.care_flows import CareFlowName
from ledger.chain import Ledger
from ledger.consent import ConsentLedger
from ledger.eip712 import TypedMessage
from ledger.errors import ContractRevert
from ledger.prescriptions import (
    Dispense,
    DispenseStatus,
    NewPrescription,
    Prescriptions,
    PrescriptionState,
    Presentation,
    Scope,
    new_prescription_id,
    new_token_secret,
    token_hash,
)
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category
from records.models import PutResult, RecordRead


class PrescriptionError(Exception):
    """A request the service refuses; `kind` is not_found | invalid | refused | forbidden."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class DispenseRefused(PrescriptionError):
    def __init__(self, status: DispenseStatus, message: str) -> None:
        super().__init__("not_found" if status == DispenseStatus.UNKNOWN else "refused", message)
        self.status = status


class IssueRequest(BaseModel):
    patient: str
    medication_request: dict[str, Any] = Field(description="the FHIR MedicationRequest")
    valid_from: int | None = Field(default=None, description="default: now (chain time)")
    valid_until: int
    repeats: int = Field(default=0, ge=0, le=254, description="FHIR numberOfRepeatsAllowed")
    min_interval: int = Field(default=0, ge=0, le=2**32 - 1, description="seconds between dispenses")
    scope: Scope = Scope.ANY_PHARMACY
    country: str = ""
    pharmacy: str = "0x" + "00" * 20
    single_dispense: bool = False
    print_token: bool = False


class Issued(BaseModel):
    prescription_id: bytes
    record_id: bytes
    state: PrescriptionState
    token: str | None = Field(default=None, description="the printed token's text (shown once, never stored)")
    token_svg: str | None = None


class Dispensed(BaseModel):
    dispense: Dispense
    record: PutResult
    state: PrescriptionState


class PrescriptionView(BaseModel):
    state: PrescriptionState
    presented_to: list[Presentation]
    dispenses: list[Dispense]


class PrescriptionService:
    """One institution's prescriptions: `records` is its RecordService (put, get_under)."""

    def __init__(self, ledger: Ledger, sender: TransactionSender, records: Any, now: Callable[[], int] | None = None) -> None:
        self.ledger = ledger
        self.sender = sender
        self.records = records
        self.rx = Prescriptions(ledger)
        self.consents = ConsentLedger(ledger)
        self._now = now or (lambda: int(ledger.w3.eth.get_block("latest")["timestamp"]))

    @property
    def address(self) -> str:
        return self.sender.address

    # --- prescriber ----------------------------------------------------------------------------------
    def issue(self, request: IssueRequest) -> Issued:
        if request.medication_request.get("resourceType") != "MedicationRequest":
            raise PrescriptionError("invalid", _("a prescription is a FHIR MedicationRequest"))
        now = self._now()
        valid_from = request.valid_from if request.valid_from is not None else now
        try:
            # Checked before anything is stored: a bad prescription leaves no record behind.
            terms = NewPrescription(
                prescription_id=new_prescription_id(), patient=request.patient, record_id=bytes(32), valid_from=valid_from,
                valid_until=request.valid_until, dispenses_allowed=request.repeats + 1, min_interval=request.min_interval, scope=request.scope,
                country=request.country, pharmacy=request.pharmacy, single_dispense=request.single_dispense,
            )
        except ValueError as exc:
            raise PrescriptionError("invalid", str(exc)) from None
        if terms.valid_until <= now:
            raise PrescriptionError("invalid", _("the prescription would already have expired"))
        if not self.consents.is_permitted(terms.patient, self.address, Category.PRESCRIPTION.bit, 1):
            raise PrescriptionError("refused", _("this institution holds no consent of the patient covering PRESCRIPTION; nothing was stored"))
        put = self.records.put(request.medication_request, terms.patient, alone=True)  # the contract names it by id
        secret = new_token_secret() if request.print_token else None
        terms = terms.model_copy(update={"record_id": put.record_id, "token_hash": token_hash(terms.prescription_id, secret) if secret else bytes(32)})
        self.rx.issue(self.sender, terms)
        state = self._state(terms.prescription_id)
        token = encode_token(terms.prescription_id, secret) if secret else None
        return Issued(prescription_id=terms.prescription_id, record_id=put.record_id, state=state, token=token, token_svg=qr_svg(token) if token else None)

    def cancel(self, prescription_id: bytes) -> PrescriptionState:
        state = self._state(prescription_id)
        if state.prescriber != self.address:
            raise PrescriptionError("forbidden", _("only the prescriber may cancel a prescription"))
        self.rx.cancel(self.sender, prescription_id)
        return self._state(prescription_id)

    # --- presentation --------------------------------------------------------------------------------
    def presentation_message(self, prescription_id: bytes, pharmacy: str, signer: str, deadline: int) -> TypedMessage:
        self._state(prescription_id)
        return self.rx.present_message(prescription_id, pharmacy, deadline, signer)

    def relay_presentation(self, message: TypedMessage, signature: bytes) -> Presentation:
        """Relay a signed PresentPrescription once the signer is the patient or delegate and the pharmacy may take it."""
        prescription_id = bytes(message.message["prescriptionId"])
        state = self._state(prescription_id)
        signer = to_checksum_address(message.recover(signature))
        delegate = self.consents.delegate_of(state.patient)
        if signer != state.patient and (delegate is None or signer != to_checksum_address(delegate)):
            raise PrescriptionError("invalid", _("the presentation is not signed by the patient or the patient's delegate"))
        status = self.rx.dispense_status(prescription_id, message.message["pharmacy"])
        if status not in (DispenseStatus.ALLOWED, DispenseStatus.NOT_PRESENTED, DispenseStatus.TOO_EARLY):
            raise DispenseRefused(status, status_words(status, state))
        return self.rx.relay_presentation(self.sender, message, signature)

    def present_token(self, token: str) -> Presentation:
        """This pharmacy presents a printed token (it works once)."""
        try:
            prescription_id, secret = decode_token(token)
        except ValueError as exc:
            raise PrescriptionError("invalid", str(exc)) from None
        self._state(prescription_id)
        return self.rx.present_token(self.sender, prescription_id, secret)

    # --- pharmacy ------------------------------------------------------------------------------------
    def verify(self, prescription_id: bytes, pharmacy: str | None = None) -> tuple[DispenseStatus, PrescriptionState | None]:
        return self.rx.status_and_state(prescription_id, pharmacy or self.address)

    def read(self, prescription_id: bytes) -> RecordRead:
        """The MedicationRequest, read under the prescription (this institution must be its prescriber or presented-to)."""
        state = self._state(prescription_id)
        return self.records.get_under(CareFlowName.prescription, prescription_id, state.record_id)

    def dispense(self, prescription_id: bytes, medication_dispense: dict[str, Any]) -> Dispensed:
        if medication_dispense.get("resourceType") != "MedicationDispense":
            raise PrescriptionError("invalid", _("a dispense is recorded as a FHIR MedicationDispense"))
        status, state = self.verify(prescription_id)
        if status != DispenseStatus.ALLOWED or state is None:
            raise DispenseRefused(status, status_words(status, state))
        put = self.records.put(medication_dispense, state.patient, alone=True)
        try:
            done = self.rx.dispense(self.sender, prescription_id, put.record_id)
        except ContractRevert as exc:
            if exc.name == "NotDispenseRecord" and not put.created:
                raise PrescriptionError("invalid", _("this MedicationDispense is already recorded for an earlier dispense; record each dispense as a new MedicationDispense")) from None
            # Lost a race (or the state changed since the check): the chain's word wins.
            now_status, now_state = self.verify(prescription_id)
            if now_status != DispenseStatus.ALLOWED:
                raise DispenseRefused(now_status, status_words(now_status, now_state)) from exc
            raise
        return Dispensed(dispense=done, record=put, state=self._state(prescription_id))

    # --- views ---------------------------------------------------------------------------------------
    def view(self, prescription_id: bytes) -> PrescriptionView:
        return PrescriptionView(state=self._state(prescription_id), presented_to=self.rx.presentations(prescription_id), dispenses=self.rx.dispenses(prescription_id))

    def of_patient(self, patient: str) -> list[PrescriptionView]:
        return [self.view(pid) for pid in self.rx.issued_to(patient)]

    def issued_here(self) -> list[PrescriptionView]:
        return [self.view(pid) for pid in self.rx.issued_by(self.address)]

    def _state(self, prescription_id: bytes) -> PrescriptionState:
        state = self.rx.state(prescription_id)
        if state is None:
            raise PrescriptionError("not_found", _("there is no prescription {id}").format(id="0x" + bytes(prescription_id).hex()))
        return state


