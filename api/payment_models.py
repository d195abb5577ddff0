"""Request and response bodies of the e-card payment routes (amounts are minor units of the programme's currency)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.types import Address, HexBytes, RecordIdHex
from ledger.payments import UINT40_MAX, UINT64_MAX, UINT128_MAX, NewProgramme, code32

Amount = Annotated[int, Field(ge=1, le=UINT64_MAX, description="minor units of the programme's currency (> 0)")]
Limit = Annotated[int, Field(ge=0, le=UINT64_MAX, description="minor units; 0 = the programme's default")]
Time = Annotated[int, Field(ge=0, le=UINT40_MAX, description="unix seconds")]
ReasonCode = Annotated[int, Field(ge=0, le=2**16 - 1, description="the payer's reason code (a code, never free text)")]


def _code(value: str) -> str:
    code32(value)  # raises ValueError with a clear message
    return value


Code = Annotated[str, Field(pattern=r"^[!-~]{1,32}$", description="1..32 printable ASCII characters without spaces, e.g. CARDIO-CONSULT")]


# --- requests -------------------------------------------------------------------------------------------
_WIRE_NAMES = {"pre_auth_validity": "pre_auth_validity_seconds"}  # the API names units where the ledger model does not


# The ledger's own model, so the API checks exactly the limits ledger/ checks again (one definition, not two copies).
class ProgrammeIn(NewProgramme):
    """A new e-card programme with this institution as payer: a name, one currency, its card default and auto-approval rule."""

    model_config = ConfigDict(alias_generator=lambda name: _WIRE_NAMES.get(name, name))

    @property
    def pre_auth_validity_seconds(self) -> int:
        return self.pre_auth_validity


class EmpanelIn(BaseModel):
    provider: Address
    empanelled: bool = True


class EscrowIn(BaseModel):
    amount: int = Field(ge=1, le=UINT128_MAX, description="minor units minted into the programme's escrow")


class CardIn(BaseModel):
    patient: Address
    annual_limit: Limit = 0
    valid_until: Time


class RenewIn(BaseModel):
    annual_limit: Limit = 0
    valid_until: Time


class PreAuthIn(BaseModel):
    card_id: int = Field(ge=1, le=UINT64_MAX)
    package_code: Code
    amount: Amount

    _package = field_validator("package_code")(_code)


class PreAuthApproveIn(BaseModel):
    expires_at: Time


class RejectIn(BaseModel):
    reason_code: ReasonCode


class ClaimIn(BaseModel):
    card_id: int = Field(ge=1, le=UINT64_MAX)
    record_id: RecordIdHex = Field(description="the anchored record of the card's patient that evidences the care")
    package_code: Code
    amount: Amount
    pre_auth_id: int = Field(default=0, ge=0, le=UINT64_MAX, description="the pre-authorisation used, or 0")

    _package = field_validator("package_code")(_code)


class ClaimApproveIn(BaseModel):
    override_confirmation: bool = Field(default=False, description="pay without the patient's confirmation (auditors see it)")


class DisbursementIn(BaseModel):
    purpose_code: Code
    amount: Amount

    _purpose = field_validator("purpose_code")(_code)


class ConfirmationPrepareIn(BaseModel):
    signer: Address | None = Field(default=None, description="the patient's delegate, when the delegate signs")


class ConfirmationIn(BaseModel):
    typed_data: dict[str, Any] = Field(description="the typed data from .../confirmation/prepare, as signed")
    signature: HexBytes = Field(description="65-byte EIP-712 signature")


# --- responses ------------------------------------------------------------------------------------------
class ProgrammeOut(BaseModel):
    programme_id: int
    payer: str
    payer_name: str | None
    name: str
    currency: str
    default_annual_limit: int
    auto_approval_threshold: int
    pre_auth_validity_seconds: int
    created_at: int
    escrow_balance: int


class EmpanelOut(BaseModel):
    programme_id: int
    provider: str
    provider_name: str | None
    empanelled: bool


class EscrowOut(BaseModel):
    programme_id: int
    amount: int
    escrow_balance: int


class StatementEntry(BaseModel):
    event: str
    words: str = Field(description="what happened, in plain words")
    block_number: int
    time: int
    transaction_hash: str
    args: dict[str, Any]


class StatementOut(BaseModel):
    programme_id: int
    name: str
    currency: str
    funded: int
    withdrawn: int
    paid: int
    disbursed: int
    escrow: int
    balanced: bool = Field(description="funded - withdrawn - paid - disbursed == escrow")
    claims_paid: int
    overridden_payments: int
    entries: list[StatementEntry]


class CardOut(BaseModel):
    card_id: int
    patient: str
    programme_id: int
    programme_name: str
    currency: str
    status: str
    annual_limit: int
    used: int
    reserved: int
    remaining: int
    period_start: int
    valid_until: int
    eligible: bool


class EligibilityOut(BaseModel):
    card_id: int
    eligible: bool
    remaining: int
    valid_until: int


class PreAuthOut(BaseModel):
    pre_auth_id: int
    card_id: int
    provider: str
    status: str
    amount: int
    package_code: str
    expires_at: int = Field(description="0 while pending")
    auto_approved: bool = False


class ClaimOut(BaseModel):
    claim_id: int
    card_id: int
    programme_id: int
    programme_name: str
    currency: str
    patient: str
    provider: str
    provider_name: str | None
    status: str
    confirmed: bool
    amount: int
    amount_text: str = Field(description="the amount with its currency, for people")
    package_code: str
    record_id: str
    pre_auth_id: int
    submitted_at: int
    summary: str = Field(description="the claim in plain words")


class PaymentOut(BaseModel):
    claim_id: int
    paid: bool
    amount: int
    currency: str
    provider: str
    confirmation_overridden: bool
    escrow_after: int
    transaction_hash: str


class DisbursementOut(BaseModel):
    card_id: int
    programme_id: int
    patient: str
    purpose_code: str
    amount: int
    used_after: int
    escrow_after: int
    transaction_hash: str


class HistoryEntry(BaseModel):
    event: str
    words: str
    block_number: int
    time: int
    transaction_hash: str


class ConfirmationPrepareOut(BaseModel):
    typed_data: dict[str, Any] = Field(description="EIP-712 ConfirmClaim typed data to sign with eth_signTypedData_v4")
    summary: str = Field(description="what signing means, in plain words")
    claim: ClaimOut


class ConfirmationOut(BaseModel):
    claim_id: int
    signer: str
    transaction_hash: str
    block_number: int
