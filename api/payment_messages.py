"""E-card payments in words and signatures: the ConfirmClaim message a patient signs, and events told in plain words.

A relayed ConfirmClaim is never trusted as sent: it must name exactly the HealthCardPayments domain and the
canonical struct, and it is rebuilt from those before the signer is recovered, so what is checked here is what
the contract verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.typed_messages import parse_typed
from i18n import N_, _
from i18n.formatting import datetime_text, money_text
from ledger.eip712 import Domain, TypedMessage
from ledger.payments import (
    CONFIRM_CLAIM_TYPES,
    PaymentEvent,
    PreAuthStatus,
    code_text,
)

NameOf = Callable[[str], str | None]
# Pre-authorisation end states as the contract names them -> what a person reads.
PRE_AUTH_STATUS = {"REQUESTED": N_("requested"), "APPROVED": N_("approved"), "REJECTED": N_("rejected"), "CANCELLED": N_("cancelled"), "EXPIRED": N_("expired"), "USED": N_("used")}


# --- ConfirmClaim ---------------------------------------------------------------------------------------
def parse_confirmation(typed_data: Mapping[str, Any], domain: Domain) -> TypedMessage:
    """The client's ConfirmClaim, checked against the payments domain and the canonical struct, rebuilt from them."""
    return parse_typed(typed_data, domain, "ConfirmClaim", CONFIRM_CLAIM_TYPES, "HealthCardPayments", ".../confirmation/prepare")


# --- plain words ----------------------------------------------------------------------------------------
def day(timestamp: int) -> str:
    return datetime_text(timestamp)


def _member(address: str, name_of: NameOf) -> str:
    name = name_of(address)
    return name if name else address


def confirmation_summary(message: TypedMessage, claim_words: str, signer: str | None) -> str:
    m = message.message
    if signer and signer != m["patient"]:
        text = _("As delegate of patient {patient}, you ({signer}) confirm that the patient received the care this claim is for: {claim}")
    else:
        text = _("You ({patient}) confirm that you received the care this claim is for: {claim}")
    tail = _("Confirming lets the payer pay it. This signature can be used once (nonce {nonce}) until {time}.").format(nonce=m["nonce"], time=day(m["deadline"]))
    return text.format(patient=m["patient"], signer=signer, claim=claim_words) + " " + tail


def event_words(event: PaymentEvent, currency: str, name_of: NameOf, patient: str | None = None) -> str:
    """One HealthCardPayments event told for people (amounts with the programme's currency, members by name)."""
    a = event.args

    def money(key: str = "amount") -> str:
        return money_text(int(a[key]), currency)

    name = event.name
    if name == "ProgrammeCreated":
        return _("Programme #{programme} {name} created by {payer}: default annual limit {limit}.").format(
            programme=a["programmeId"], name=repr(a["name"]), payer=_member(a["payer"], name_of), limit=money("defaultAnnualLimit"))
    if name == "ProgrammeUpdated":
        return _("Programme #{programme} updated: default annual limit {limit}, automatic approval below {threshold}.").format(
            programme=a["programmeId"], limit=money("defaultAnnualLimit"), threshold=money("autoApprovalThreshold"))
    if name == "ProviderEmpanelled":
        return _("{provider} empanelled: it may now treat card holders and claim.").format(provider=_member(a["provider"], name_of))
    if name == "ProviderDelisted":
        return _("{provider} delisted: it may no longer claim.").format(provider=_member(a["provider"], name_of))
    if name == "EscrowFunded":
        return _("Escrow funded with {amount} (now {balance}).").format(amount=money(), balance=money("escrowAfter"))
    if name == "EscrowWithdrawn":
        return _("{amount} withdrawn from escrow (now {balance}).").format(amount=money(), balance=money("escrowAfter"))
    if name == "CardIssued":
        return _("Card #{card} issued with an annual limit of {limit}, valid until {time}.").format(card=a["cardId"], limit=money("annualLimit"), time=day(a["validUntil"]))
    if name == "CardRenewed":
        return _("Card #{card} renewed: limit {limit}, valid until {time} (the previous period used {used}).").format(
            card=a["cardId"], limit=money("annualLimit"), time=day(a["validUntil"]), used=money("previousUsed"))
    if name == "CardSuspended":
        return _("Card #{card} suspended by the payer: no new treatment can be charged to it.").format(card=a["cardId"])
    if name == "CardReactivated":
        return _("Card #{card} reactivated by the payer.").format(card=a["cardId"])
    if name == "PreAuthRequested":
        return _("{provider} asked for pre-authorisation #{pre_auth}: {amount} for package {package}.").format(
            provider=_member(a["provider"], name_of), pre_auth=a["preAuthId"], amount=money(), package=code_text(a["packageCode"]))
    if name == "PreAuthApproved":
        text = _("Pre-authorisation #{pre_auth} approved automatically until {time}; {reserved} is now reserved on the card.") if a["automatic"] else \
            _("Pre-authorisation #{pre_auth} approved by the payer until {time}; {reserved} is now reserved on the card.")
        return text.format(pre_auth=a["preAuthId"], time=day(a["expiresAt"]), reserved=money("reservedAfter"))
    if name == "PreAuthRejected":
        return _("Pre-authorisation #{pre_auth} rejected by the payer (reason code {reason}).").format(pre_auth=a["preAuthId"], reason=a["reasonCode"])
    if name == "PreAuthReleased":
        status = PreAuthStatus(int(a["status"])).name
        return _("Pre-authorisation #{pre_auth} ended ({status}); {amount} released.").format(
            pre_auth=a["preAuthId"], status=_(PRE_AUTH_STATUS[status]) if status in PRE_AUTH_STATUS else status.lower(), amount=money("released"))
    if name == "ClaimSubmitted":
        return _("{provider} claimed {amount} for package {package} (claim #{claim}, evidence record {record}).").format(
            provider=_member(a["provider"], name_of), amount=money(), package=code_text(a["packageCode"]), claim=a["claimId"], record="0x" + bytes(a["recordId"]).hex())
    if name == "ClaimConfirmed":
        relayer = _member(a["relayer"], name_of)
        if patient is None or a["signer"] == patient:
            return _("Claim #{claim} confirmed by the patient (relayed by {relayer}).").format(claim=a["claimId"], relayer=relayer)
        return _("Claim #{claim} confirmed by the patient's delegate {delegate} (relayed by {relayer}).").format(claim=a["claimId"], delegate=a["signer"], relayer=relayer)
    if name == "ClaimPaid":
        if a["confirmationOverridden"]:
            text = _("Claim #{claim} paid: {amount} to {provider} without the patient's confirmation (payer override).")
        else:
            text = _("Claim #{claim} paid: {amount} to {provider}.")
        return text.format(claim=a["claimId"], amount=money(), provider=_member(a["provider"], name_of))
    if name == "ClaimRejected":
        return _("Claim #{claim} rejected by the payer (reason code {reason}).").format(claim=a["claimId"], reason=a["reasonCode"])
    if name == "CashDisbursed":
        return _("Cash allowance of {amount} paid to the patient for {purpose}.").format(amount=money(), purpose=code_text(a["purposeCode"]))
    return name  # pragma: no cover - every event of the contract is listed above
