"""E-card payments in words and signatures: the ConfirmClaim message a patient signs, and events told in plain words.

A relayed ConfirmClaim is never trusted as sent: it must name exactly the HealthCardPayments domain and the
canonical struct, and it is rebuilt from those before the signer is recovered, so what is checked here is what
the contract verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from api.typed_messages import parse_typed
from ledger.eip712 import Domain, TypedMessage
from ledger.payments import (
    CONFIRM_CLAIM_TYPES,
    PaymentEvent,
    PreAuthStatus,
    code_text,
    format_amount,
)

NameOf = Callable[[str], str | None]


# --- ConfirmClaim ---------------------------------------------------------------------------------------
def parse_confirmation(typed_data: Mapping[str, Any], domain: Domain) -> TypedMessage:
    """The client's ConfirmClaim, checked against the payments domain and the canonical struct, rebuilt from them."""
    return parse_typed(typed_data, domain, "ConfirmClaim", CONFIRM_CLAIM_TYPES, "HealthCardPayments", ".../confirmation/prepare")


# --- plain words ----------------------------------------------------------------------------------------
def day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _member(address: str, name_of: NameOf) -> str:
    name = name_of(address)
    return name if name else address


def confirmation_summary(message: TypedMessage, claim_words: str, signer: str | None) -> str:
    m = message.message
    who = f"As delegate of patient {m['patient']}, you ({signer})" if signer and signer != m["patient"] else f"You ({m['patient']})"
    return (
        f"{who} confirm that you received the care this claim is for: {claim_words} "
        f"Confirming lets the payer pay it. This signature can be used once (nonce {m['nonce']}) until {day(m['deadline'])}."
    )


def event_words(event: PaymentEvent, currency: str, name_of: NameOf, patient: str | None = None) -> str:
    """One HealthCardPayments event told for people (amounts with the programme's currency, members by name)."""
    a = event.args

    def money(key: str = "amount") -> str:
        return format_amount(int(a[key]), currency)

    name = event.name
    if name == "ProgrammeCreated":
        return f"Programme #{a['programmeId']} {a['name']!r} created by {_member(a['payer'], name_of)}: default annual limit {money('defaultAnnualLimit')}."
    if name == "ProgrammeUpdated":
        return f"Programme #{a['programmeId']} updated: default annual limit {money('defaultAnnualLimit')}, automatic approval below {money('autoApprovalThreshold')}."
    if name == "ProviderEmpanelled":
        return f"{_member(a['provider'], name_of)} empanelled: it may now treat card holders and claim."
    if name == "ProviderDelisted":
        return f"{_member(a['provider'], name_of)} delisted: it may no longer claim."
    if name == "EscrowFunded":
        return f"Escrow funded with {money()} (now {money('escrowAfter')})."
    if name == "EscrowWithdrawn":
        return f"{money()} withdrawn from escrow (now {money('escrowAfter')})."
    if name == "CardIssued":
        return f"Card #{a['cardId']} issued with an annual limit of {money('annualLimit')}, valid until {day(a['validUntil'])}."
    if name == "CardRenewed":
        return f"Card #{a['cardId']} renewed: limit {money('annualLimit')}, valid until {day(a['validUntil'])} (the previous period used {money('previousUsed')})."
    if name == "CardSuspended":
        return f"Card #{a['cardId']} suspended by the payer: no new treatment can be charged to it."
    if name == "CardReactivated":
        return f"Card #{a['cardId']} reactivated by the payer."
    if name == "PreAuthRequested":
        return f"{_member(a['provider'], name_of)} asked for pre-authorisation #{a['preAuthId']}: {money()} for package {code_text(a['packageCode'])}."
    if name == "PreAuthApproved":
        how = "automatically" if a["automatic"] else "by the payer"
        return f"Pre-authorisation #{a['preAuthId']} approved {how} until {day(a['expiresAt'])}; {money('reservedAfter')} is now reserved on the card."
    if name == "PreAuthRejected":
        return f"Pre-authorisation #{a['preAuthId']} rejected by the payer (reason code {a['reasonCode']})."
    if name == "PreAuthReleased":
        status = PreAuthStatus(int(a["status"])).name.lower()
        return f"Pre-authorisation #{a['preAuthId']} {status}; {money('released')} released."
    if name == "ClaimSubmitted":
        return (
            f"{_member(a['provider'], name_of)} claimed {money()} for package {code_text(a['packageCode'])} "
            f"(claim #{a['claimId']}, evidence record 0x{bytes(a['recordId']).hex()})."
        )
    if name == "ClaimConfirmed":
        by = "the patient" if patient is None or a["signer"] == patient else f"the patient's delegate {a['signer']}"
        return f"Claim #{a['claimId']} confirmed by {by} (relayed by {_member(a['relayer'], name_of)})."
    if name == "ClaimPaid":
        override = " without the patient's confirmation (payer override)" if a["confirmationOverridden"] else ""
        return f"Claim #{a['claimId']} paid: {money()} to {_member(a['provider'], name_of)}{override}."
    if name == "ClaimRejected":
        return f"Claim #{a['claimId']} rejected by the payer (reason code {a['reasonCode']})."
    if name == "CashDisbursed":
        return f"Cash allowance of {money()} paid to the patient for {code_text(a['purposeCode'])}."
    return name  # pragma: no cover - every event of the contract is listed above
