"""Typed access to HealthCardPayments: programmes, e-cards, pre-authorisations, claims, escrow and cash allowances.

Payers and providers send their own transactions (members only, through the gateway); a patient confirms a claim
by signing the EIP-712 `ConfirmClaim` message in the wallet, and any member relays it. Amounts are minor units of
the programme's ISO 4217 currency (the settlement token has 0 decimals).
"""

from __future__ import annotations

import re
from enum import IntEnum
from functools import cached_property
from typing import Annotated, Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from pydantic import AfterValidator, BaseModel, Field
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.eip712 import Domain, TypedMessage
from ledger.errors import ErrorDecoder
from ledger.events import EventReader
from ledger.registry import ConsortiumRegistry
from ledger.transactions import TransactionSender

UINT32_MAX = 2**32 - 1
UINT40_MAX = 2**40 - 1
UINT64_MAX = 2**64 - 1
UINT128_MAX = 2**128 - 1
MAX_NAME_BYTES = 64
MAX_PRE_AUTH_VALIDITY = 365 * 86400

CONFIRM_CLAIM_TYPES = {
    "ConfirmClaim": [
        {"name": "claimId", "type": "uint64"},
        {"name": "patient", "type": "address"},
        {"name": "provider", "type": "address"},
        {"name": "recordId", "type": "bytes32"},
        {"name": "packageCode", "type": "bytes32"},
        {"name": "amount", "type": "uint64"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}

# ISO 4217 minor-unit exponents that are not 2 (the default); used only to render amounts for people.
_CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_CODE = re.compile(r"^[\x21-\x7e]{1,32}$")  # printable ASCII without spaces: "CARDIO-CONSULT", "TRAVEL"

# Events that carry the card id, by the topic position it is indexed at (ClaimConfirmed is found via its claims).
_CARD_EVENTS_TOPIC1 = ("CardIssued", "CardRenewed", "CardSuspended", "CardReactivated", "CashDisbursed")
_CARD_EVENTS_TOPIC2 = ("PreAuthRequested", "PreAuthApproved", "PreAuthRejected", "PreAuthReleased", "ClaimSubmitted", "ClaimPaid", "ClaimRejected")
# Events that carry the programme id, by topic position.
_PROGRAMME_EVENTS_TOPIC1 = ("ProgrammeCreated", "ProgrammeUpdated", "ProviderEmpanelled", "ProviderDelisted", "EscrowFunded", "EscrowWithdrawn")
_PROGRAMME_EVENTS_TOPIC2 = ("CardIssued", "CashDisbursed")
_PROGRAMME_EVENTS_TOPIC3 = ("ClaimPaid",)


class CardStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class PreAuthStatus(IntEnum):
    NONE = 0
    REQUESTED = 1
    APPROVED = 2
    REJECTED = 3
    CANCELLED = 4
    EXPIRED = 5
    USED = 6


class ClaimStatus(IntEnum):
    NONE = 0
    SUBMITTED = 1
    PAID = 2
    REJECTED = 3


# ---------------------------------------------------------------------------------------------- codes and amounts


def code32(text: str) -> bytes:
    """A package / purpose code as the contract's bytes32 (ASCII, right-padded); ValueError when it cannot be one."""
    if not isinstance(text, str) or not _CODE.match(text):
        raise ValueError(f"a code is 1..32 printable ASCII characters without spaces, got {text!r}")
    return text.encode("ascii").ljust(32, b"\x00")


def code_text(raw: bytes) -> str:
    """The readable form of a bytes32 code (its hex when it is not an ASCII code)."""
    stripped = bytes(raw).rstrip(b"\x00")
    try:
        text = stripped.decode("ascii")
    except UnicodeDecodeError:
        return "0x" + bytes(raw).hex()
    return text if _CODE.match(text) else "0x" + bytes(raw).hex()


def format_amount(minor_units: int, currency: str) -> str:
    """1200_00 KZT -> "1,200.00 KZT" (ISO 4217 minor-unit exponent; 2 unless listed otherwise)."""
    exponent = _CURRENCY_EXPONENTS.get(currency, 2)
    if exponent == 0:
        return f"{minor_units:,} {currency}"
    whole, fraction = divmod(minor_units, 10**exponent)
    return f"{whole:,}.{fraction:0{exponent}d} {currency}"


def _check_amount(amount: int, maximum: int = UINT64_MAX) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= maximum:
        raise ValueError(f"an amount is a whole number of minor currency units in [0, {maximum}], got {amount!r}")
    return amount


def _check_time(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT40_MAX:
        raise ValueError(f"a time is a unix timestamp in [0, 2**40), got {value!r}")
    return value


def _check_bytes32(value: bytes, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return bytes(value)


def _topic_hex(topic: str | bytes) -> str:
    """web3 gives event topics as hex strings (ABI) or bytes (logs); compare them as lower-case 0x-hex."""
    text = "0x" + bytes(topic).hex() if isinstance(topic, (bytes, bytearray)) else str(topic).lower()
    return text if text.startswith("0x") else "0x" + text


def _as_bytes(value: str | bytes) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else bytes.fromhex(str(value).removeprefix("0x"))


def _as_int(value: str | int) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


def _normal(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    return bytes(value) if isinstance(value, (bytes, bytearray)) else value


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


# ---------------------------------------------------------------------------------------------- models


def _programme_name_fits(name: str) -> str:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"the programme name is at most {MAX_NAME_BYTES} bytes (UTF-8)")
    return name


# The contract counts a name's UTF-8 bytes, not its characters.
ProgrammeName = Annotated[str, Field(min_length=1, description=f"at most {MAX_NAME_BYTES} bytes (UTF-8)"), AfterValidator(_programme_name_fits)]


class NewProgramme(BaseModel):
    """What a payer sets up: a named programme in one currency, its card default and auto-approval rule."""

    name: ProgrammeName
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code")
    default_annual_limit: int = Field(ge=0, le=UINT64_MAX)
    auto_approval_threshold: int = Field(default=0, ge=0, le=UINT64_MAX, description="requests strictly below are approved at once; 0 = never")
    pre_auth_validity: int = Field(default=7 * 86400, ge=1, le=MAX_PRE_AUTH_VALIDITY, description="seconds an auto-approval stays valid")


class Programme(BaseModel):
    programme_id: int
    payer: str
    name: str
    currency: str
    default_annual_limit: int
    auto_approval_threshold: int
    pre_auth_validity: int
    created_at: int
    escrow: int


class Card(BaseModel):
    card_id: int
    patient: str
    programme_id: int
    status: str
    annual_limit: int
    used: int
    reserved: int
    period_start: int
    valid_until: int

    @property
    def remaining(self) -> int:
        """What may still be promised or paid this period (0 when a renewal lowered the limit below commitments)."""
        return max(0, self.annual_limit - self.used - self.reserved)


class Eligibility(BaseModel):
    """What a provider checks before treating."""

    card_id: int
    eligible: bool
    remaining: int
    valid_until: int


class PreAuth(BaseModel):
    pre_auth_id: int
    provider: str
    card_id: int
    status: str
    amount: int
    expires_at: int
    package_code: str


class PreAuthDecision(BaseModel):
    """The outcome of a provider's request: approved at once (below the programme's threshold) or pending."""

    pre_auth_id: int
    auto_approved: bool
    expires_at: int = Field(description="0 while pending")
    reserved_after: int | None = None


class Claim(BaseModel):
    claim_id: int
    provider: str
    card_id: int
    status: str
    confirmed: bool
    amount: int
    pre_auth_id: int
    submitted_at: int
    record_id: bytes
    package_code: str


class ClaimConfirmation(BaseModel):
    claim_id: int
    signer: str
    relayer: str
    nonce: int
    transaction_hash: str


class Payment(BaseModel):
    """A paid claim (event ClaimPaid): auditors look at `confirmation_overridden`."""

    claim_id: int
    card_id: int
    programme_id: int
    provider: str
    amount: int
    confirmation_overridden: bool
    used_after: int
    reserved_after: int
    escrow_after: int
    transaction_hash: str
    gas_used: int


class Disbursement(BaseModel):
    card_id: int
    programme_id: int
    patient: str
    purpose_code: str
    amount: int
    used_after: int
    escrow_after: int
    transaction_hash: str


class PaymentEvent(BaseModel):
    """One decoded HealthCardPayments event, in chain order."""

    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int
    transaction_hash: str


class ProgrammeStatement(BaseModel):
    """A programme's escrow account rebuilt from its events alone, next to the escrow the contract holds."""

    programme_id: int
    currency: str
    funded: int
    withdrawn: int
    paid: int
    disbursed: int
    escrow: int
    claims_paid: int
    overridden_payments: int
    events: list[PaymentEvent]

    @property
    def balanced(self) -> bool:
        return self.funded - self.withdrawn - self.paid - self.disbursed == self.escrow


# ---------------------------------------------------------------------------------------------- the wrapper


class HealthCardPayments:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract("HealthCardPayments")
        self.token: Contract = ledger.contract("SettlementToken")
        self._deployed_at = ledger.deployments.contracts["HealthCardPayments"].block_number
        self._events = {entry["name"]: self.contract.events[entry["name"]]() for entry in self.contract.abi if entry.get("type") == "event"}
        self._event_abi = {_topic_hex(event.topic): event.abi for event in self._events.values()}

    @property
    def domain(self) -> Domain:
        return Domain.of(self.contract)

    @cached_property
    def decoder(self) -> ErrorDecoder:
        """Every project contract's errors (senders made with it name the payments contract's refusals)."""
        return self.ledger.decoder

    def send(self, sender: TransactionSender, function: ContractFunction) -> TxReceipt:
        """Send one call; refusals surface as ContractRevert named after the payments contract's custom error."""
        return self.ledger.transact(sender, function)

    # --- programmes (payer) ------------------------------------------------------------------------
    def create_programme(self, payer: TransactionSender, programme: NewProgramme) -> int:
        receipt = self.send(payer, self.contract.functions.createProgramme(
            programme.name, programme.currency.encode("ascii"), programme.default_annual_limit, programme.auto_approval_threshold, programme.pre_auth_validity
        ))
        return int(self._one(receipt, "ProgrammeCreated")["programmeId"])

    def update_programme(self, payer: TransactionSender, programme_id: int, default_annual_limit: int, auto_approval_threshold: int, pre_auth_validity: int) -> None:
        self.send(payer, self.contract.functions.updateProgramme(
            programme_id, _check_amount(default_annual_limit), _check_amount(auto_approval_threshold), _check_amount(pre_auth_validity, UINT32_MAX)
        ))

    def set_empanelled(self, payer: TransactionSender, programme_id: int, provider: str, empanelled: bool = True) -> None:
        self.send(payer, self.contract.functions.setProviderEmpanelled(programme_id, to_checksum_address(provider), empanelled))

    def fund_escrow(self, payer: TransactionSender, programme_id: int, amount: int) -> int:
        """Mint `amount` into the programme's escrow; returns the escrow after."""
        receipt = self.send(payer, self.contract.functions.fundEscrow(programme_id, _check_amount(amount, UINT128_MAX)))
        return int(self._one(receipt, "EscrowFunded")["escrowAfter"])

    def withdraw_escrow(self, payer: TransactionSender, programme_id: int, amount: int) -> int:
        """Return escrow to the payer's account as tokens; returns the escrow after."""
        receipt = self.send(payer, self.contract.functions.withdrawEscrow(programme_id, _check_amount(amount, UINT128_MAX)))
        return int(self._one(receipt, "EscrowWithdrawn")["escrowAfter"])

    # --- cards (payer) -----------------------------------------------------------------------------
    def issue_card(self, payer: TransactionSender, programme_id: int, patient: str, valid_until: int, annual_limit: int = 0) -> int:
        """Issue a card (limit 0 = the programme's default); returns the card id."""
        receipt = self.send(payer, self.contract.functions.issueCard(programme_id, to_checksum_address(patient), _check_amount(annual_limit), _check_time(valid_until)))
        return int(self._one(receipt, "CardIssued")["cardId"])

    def renew_card(self, payer: TransactionSender, card_id: int, valid_until: int, annual_limit: int = 0) -> None:
        self.send(payer, self.contract.functions.renewCard(card_id, _check_amount(annual_limit), _check_time(valid_until)))

    def suspend_card(self, payer: TransactionSender, card_id: int) -> None:
        self.send(payer, self.contract.functions.suspendCard(card_id))

    def reactivate_card(self, payer: TransactionSender, card_id: int) -> None:
        self.send(payer, self.contract.functions.reactivateCard(card_id))

    # --- pre-authorisation -------------------------------------------------------------------------
    def request_pre_auth(self, provider: TransactionSender, card_id: int, package: str, amount: int) -> PreAuthDecision:
        receipt = self.send(provider, self.contract.functions.requestPreAuth(card_id, code32(package), _check_amount(amount)))
        pre_auth_id = int(self._one(receipt, "PreAuthRequested")["preAuthId"])
        approved = self._all(receipt, "PreAuthApproved")
        if approved:
            return PreAuthDecision(pre_auth_id=pre_auth_id, auto_approved=True, expires_at=approved[0]["expiresAt"], reserved_after=approved[0]["reservedAfter"])
        return PreAuthDecision(pre_auth_id=pre_auth_id, auto_approved=False, expires_at=0)

    def approve_pre_auth(self, payer: TransactionSender, pre_auth_id: int, expires_at: int) -> int:
        """Approve until `expires_at`; returns the card's reservation after."""
        receipt = self.send(payer, self.contract.functions.approvePreAuth(pre_auth_id, _check_time(expires_at)))
        return int(self._one(receipt, "PreAuthApproved")["reservedAfter"])

    def reject_pre_auth(self, payer: TransactionSender, pre_auth_id: int, reason_code: int) -> None:
        self.send(payer, self.contract.functions.rejectPreAuth(pre_auth_id, _check_amount(reason_code, 2**16 - 1)))

    def cancel_pre_auth(self, actor: TransactionSender, pre_auth_id: int) -> int:
        """Cancel (its provider or the payer); returns the reservation released."""
        return int(self._one(self.send(actor, self.contract.functions.cancelPreAuth(pre_auth_id)), "PreAuthReleased")["released"])

    def release_expired_pre_auth(self, member: TransactionSender, pre_auth_id: int) -> int:
        """Housekeeping any active member may do; returns the reservation released."""
        return int(self._one(self.send(member, self.contract.functions.releaseExpiredPreAuth(pre_auth_id)), "PreAuthReleased")["released"])

    # --- claims ------------------------------------------------------------------------------------
    def submit_claim(self, provider: TransactionSender, card_id: int, record_id: bytes, package: str, amount: int, pre_auth_id: int = 0) -> int:
        """Claim `amount` for `package`, with a record of the card's patient that `provider` anchored itself as evidence
        (a colleague's record is refused with EvidenceNotAuthoredByClaimant); returns the claim id."""
        receipt = self.send(provider, self.contract.functions.submitClaim(card_id, _check_bytes32(record_id, "record_id"), code32(package), _check_amount(amount), pre_auth_id))
        return int(self._one(receipt, "ClaimSubmitted")["claimId"])

    def confirmation_message(self, claim_id: int, deadline: int, signer: str | None = None, nonce: int | None = None) -> TypedMessage:
        """The `ConfirmClaim` a patient (or its delegate, `signer`) signs in the wallet: the terms are read from the chain."""
        provider, card_id, status, _confirmed, amount, _pre_auth, _submitted, record_id, package = self.contract.functions.claim(claim_id).call()
        if status == ClaimStatus.NONE:
            raise ValueError(f"no claim {claim_id}")
        patient = self.contract.functions.card(card_id).call()[0]
        message = {
            "claimId": claim_id,
            "patient": patient,
            "provider": provider,
            "recordId": bytes(record_id),
            "packageCode": bytes(package),
            "amount": amount,
            "nonce": self.nonce(signer or patient) if nonce is None else nonce,
            "deadline": deadline,
        }
        return TypedMessage(self.domain, "ConfirmClaim", CONFIRM_CLAIM_TYPES, message)

    def relay_confirmation(self, relayer: TransactionSender, signed: TypedMessage, signature: bytes) -> ClaimConfirmation:
        """Submit a patient's (or delegate's) signed ConfirmClaim; the relayer is any active member."""
        if signed.primary_type != "ConfirmClaim":
            raise ValueError(f"not a ConfirmClaim message: {signed.primary_type}")
        m = signed.message
        receipt = self.send(relayer, self.contract.functions.confirmClaimBySig(m["claimId"], m["nonce"], m["deadline"], signature))
        event = self._one(receipt, "ClaimConfirmed")
        return ClaimConfirmation(claim_id=event["claimId"], signer=event["signer"], relayer=event["relayer"], nonce=event["nonce"], transaction_hash=receipt["transactionHash"].to_0x_hex())

    def approve_claim(self, payer: TransactionSender, claim_id: int, override_confirmation: bool = False) -> Payment:
        """Approve and pay at once. `override_confirmation` pays without the patient's confirmation (auditors see it)."""
        receipt = self.send(payer, self.contract.functions.approveClaim(claim_id, override_confirmation))
        e = self._one(receipt, "ClaimPaid")
        return Payment(
            claim_id=e["claimId"], card_id=e["cardId"], programme_id=e["programmeId"], provider=e["provider"], amount=e["amount"],
            confirmation_overridden=e["confirmationOverridden"], used_after=e["usedAfter"], reserved_after=e["reservedAfter"], escrow_after=e["escrowAfter"],
            transaction_hash=receipt["transactionHash"].to_0x_hex(), gas_used=receipt["gasUsed"],
        )

    def reject_claim(self, payer: TransactionSender, claim_id: int, reason_code: int) -> None:
        self.send(payer, self.contract.functions.rejectClaim(claim_id, _check_amount(reason_code, 2**16 - 1)))

    # --- cash allowances (payer) -------------------------------------------------------------------
    def disburse_cash(self, payer: TransactionSender, card_id: int, purpose: str, amount: int) -> Disbursement:
        receipt = self.send(payer, self.contract.functions.disburseCash(card_id, code32(purpose), _check_amount(amount)))
        e = self._one(receipt, "CashDisbursed")
        return Disbursement(
            card_id=e["cardId"], programme_id=e["programmeId"], patient=e["patient"], purpose_code=code_text(e["purposeCode"]), amount=e["amount"],
            used_after=e["usedAfter"], escrow_after=e["escrowAfter"], transaction_hash=receipt["transactionHash"].to_0x_hex(),
        )

    # --- reads -------------------------------------------------------------------------------------
    def programme(self, programme_id: int) -> Programme | None:
        payer, currency, validity, created_at, default_limit, threshold, escrow, name = self.contract.functions.programme(programme_id).call()
        if int(payer, 16) == 0:
            return None
        return Programme(
            programme_id=programme_id, payer=payer, name=name, currency=bytes(currency).decode("ascii"), default_annual_limit=default_limit,
            auto_approval_threshold=threshold, pre_auth_validity=validity, created_at=created_at, escrow=escrow,
        )

    def programme_count(self) -> int:
        return int(self.contract.functions.programmeCount().call())

    def is_empanelled(self, programme_id: int, provider: str) -> bool:
        return bool(self.contract.functions.isEmpanelled(programme_id, to_checksum_address(provider)).call())

    def escrow_balance(self, programme_id: int) -> int:
        return int(self.contract.functions.escrowBalance(programme_id).call())

    def card(self, card_id: int) -> Card | None:
        patient, programme_id, valid_until, status, annual_limit, used, reserved, period_start = self.contract.functions.card(card_id).call()
        if status == CardStatus.NONE:
            return None
        return Card(
            card_id=card_id, patient=patient, programme_id=programme_id, status=CardStatus(status).name, annual_limit=annual_limit,
            used=used, reserved=reserved, period_start=period_start, valid_until=valid_until,
        )

    def card_of(self, programme_id: int, patient: str) -> int | None:
        card_id = int(self.contract.functions.cardOf(programme_id, to_checksum_address(patient)).call())
        return card_id or None

    def card_count(self) -> int:
        return int(self.contract.functions.cardCount().call())

    def eligibility(self, card_id: int) -> Eligibility:
        eligible, remaining, valid_until = self.contract.functions.eligibility(card_id).call()
        return Eligibility(card_id=card_id, eligible=eligible, remaining=remaining, valid_until=valid_until)

    def pre_auth(self, pre_auth_id: int) -> PreAuth | None:
        provider, card_id, status, amount, expires_at, package = self.contract.functions.preAuth(pre_auth_id).call()
        if status == PreAuthStatus.NONE:
            return None
        return PreAuth(pre_auth_id=pre_auth_id, provider=provider, card_id=card_id, status=PreAuthStatus(status).name, amount=amount, expires_at=expires_at, package_code=code_text(package))

    def pre_auth_count(self) -> int:
        return int(self.contract.functions.preAuthCount().call())

    def claim(self, claim_id: int) -> Claim | None:
        provider, card_id, status, confirmed, amount, pre_auth_id, submitted_at, record_id, package = self.contract.functions.claim(claim_id).call()
        if status == ClaimStatus.NONE:
            return None
        return Claim(
            claim_id=claim_id, provider=provider, card_id=card_id, status=ClaimStatus(status).name, confirmed=confirmed, amount=amount,
            pre_auth_id=pre_auth_id, submitted_at=submitted_at, record_id=bytes(record_id), package_code=code_text(package),
        )

    def claim_count(self) -> int:
        return int(self.contract.functions.claimCount().call())

    def claim_for_evidence(self, record_id: bytes, package: str) -> int | None:
        return int(self.contract.functions.claimForEvidence(_check_bytes32(record_id, "record_id"), code32(package)).call()) or None

    def nonce(self, account: str) -> int:
        return int(self.contract.functions.nonces(to_checksum_address(account)).call())

    def token_balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(to_checksum_address(account)).call())

    # --- for the patient ---------------------------------------------------------------------------
    def claim_summary(self, claim: Claim | int) -> str:
        """The claim in plain words, as the wallet shows it before the patient confirms."""
        found = self.claim(claim) if isinstance(claim, int) else claim
        if found is None:
            raise ValueError(f"no claim {claim}")
        card = self.card(found.card_id)
        programme = self.programme(card.programme_id) if card else None
        currency = programme.currency if programme else "units"
        member = ConsortiumRegistry(self.ledger).member(found.provider)
        provider = member.name if member else found.provider
        evidence = "0x" + found.record_id.hex()
        pre_auth = f", under pre-authorisation #{found.pre_auth_id}" if found.pre_auth_id else ""
        status = {
            ClaimStatus.SUBMITTED.name: "it is waiting for the payer's decision" if found.confirmed else "it is waiting for your confirmation",
            ClaimStatus.PAID.name: "it has been paid",
            ClaimStatus.REJECTED.name: "the payer rejected it",
        }[found.status]
        return f"{provider} claims {format_amount(found.amount, currency)} for package {found.package_code}, evidence record {evidence}{pre_auth}; {status}."

    # --- event history -----------------------------------------------------------------------------
    def card_history(self, card_id: int, from_block: int | None = None, to_block: int | None = None) -> list[PaymentEvent]:
        """Everything that happened to a card (issue, renewals, pre-authorisations, claims and their confirmations, cash)."""
        start, end = self._range(from_block, to_block)
        reader = EventReader(self.ledger.w3)
        card = _topic(card_id)
        logs = reader.logs([self.contract.address], [self._topics(_CARD_EVENTS_TOPIC1), card], start, end)
        logs += reader.logs([self.contract.address], [self._topics(_CARD_EVENTS_TOPIC2), None, card], start, end)
        events = [self._decode(log) for log in logs]
        claim_ids = sorted({e.args["claimId"] for e in events if e.name == "ClaimSubmitted"})
        if claim_ids:
            confirmed = reader.logs([self.contract.address], [self._topics(("ClaimConfirmed",)), [_topic(c) for c in claim_ids]], start, end)
            events += [self._decode(log) for log in confirmed]
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def programme_statement(self, programme_id: int, from_block: int | None = None, to_block: int | None = None) -> ProgrammeStatement:
        """The programme's escrow account from its events: funded, withdrawn, paid to providers, disbursed to patients."""
        programme = self.programme(programme_id)
        if programme is None:
            raise ValueError(f"no programme {programme_id}")
        start, end = self._range(from_block, to_block)
        reader = EventReader(self.ledger.w3)
        topic = _topic(programme_id)
        logs = reader.logs([self.contract.address], [self._topics(_PROGRAMME_EVENTS_TOPIC1), topic], start, end)
        logs += reader.logs([self.contract.address], [self._topics(_PROGRAMME_EVENTS_TOPIC2), None, topic], start, end)
        logs += reader.logs([self.contract.address], [self._topics(_PROGRAMME_EVENTS_TOPIC3), None, None, topic], start, end)
        events = sorted((self._decode(log) for log in logs), key=lambda e: (e.block_number, e.log_index))

        def total(name: str) -> int:
            return sum(int(e.args["amount"]) for e in events if e.name == name)

        paid = [e for e in events if e.name == "ClaimPaid"]
        return ProgrammeStatement(
            programme_id=programme_id, currency=programme.currency, funded=total("EscrowFunded"), withdrawn=total("EscrowWithdrawn"),
            paid=total("ClaimPaid"), disbursed=total("CashDisbursed"), escrow=self.escrow_balance(programme_id), claims_paid=len(paid),
            overridden_payments=sum(1 for e in paid if e.args["confirmationOverridden"]), events=events,
        )

    # --- internals ---------------------------------------------------------------------------------
    def _range(self, from_block: int | None, to_block: int | None) -> tuple[int, int]:
        return (self._deployed_at if from_block is None else from_block, self.ledger.w3.eth.block_number if to_block is None else to_block)

    def _topics(self, names: tuple[str, ...]) -> list[str]:
        return [_topic_hex(self._events[name].topic) for name in names]

    def _decode(self, log: Any) -> PaymentEvent:
        """Decode one log, raw JSON-RPC (hex strings) or web3-formatted (bytes, ints): EventReader hands out either."""
        topics = [_as_bytes(topic) for topic in log["topics"]]
        entry = self._event_abi[_topic_hex(topics[0])]
        inputs = entry["inputs"]
        indexed = [item for item in inputs if item.get("indexed")]
        plain = [item for item in inputs if not item.get("indexed")]
        values: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            dynamic = item["type"] in ("string", "bytes") or item["type"].endswith("]") or item["type"].startswith("tuple")
            values[item["name"]] = topic if dynamic else abi_decode([item["type"]], topic)[0]
        for item, value in zip(plain, abi_decode([item["type"] for item in plain], _as_bytes(log["data"])), strict=True):
            values[item["name"]] = value
        args = {item["name"]: _normal(item["type"], values[item["name"]]) for item in inputs}
        return PaymentEvent(
            name=entry["name"], args=args, block_number=_as_int(log["blockNumber"]), log_index=_as_int(log["logIndex"]),
            transaction_hash=_topic_hex(_as_bytes(log["transactionHash"])),
        )

    def _all(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        return [dict(log["args"]) for log in self._events[name].process_receipt(receipt, errors=DISCARD) if log["address"] == self.contract.address]

    def _one(self, receipt: TxReceipt, name: str) -> dict[str, Any]:
        (event,) = self._all(receipt, name)
        return event


__all__ = [
    "CONFIRM_CLAIM_TYPES", "Card", "CardStatus", "Claim", "ClaimConfirmation", "ClaimStatus", "Disbursement", "Eligibility", "HealthCardPayments",
    "NewProgramme", "PaymentEvent", "Payment", "PreAuth", "PreAuthDecision", "PreAuthStatus", "Programme", "ProgrammeStatement", "code32", "code_text",
    "format_amount",
]
