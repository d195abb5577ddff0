"""Plain words for e-prescriptions: why a dispense is not allowed, what a patient signs when presenting, and a
prescription's state as the wallet shows it. Every string goes through i18n."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from i18n import _
from ledger.prescriptions import DispenseStatus, PrescriptionState, Scope


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def status_words(status: DispenseStatus, state: PrescriptionState | None = None) -> str:
    """Why a pharmacy may (not) dispense now."""
    if status == DispenseStatus.ALLOWED:
        return _("this pharmacy may dispense now")
    if status == DispenseStatus.UNKNOWN:
        return _("there is no such prescription")
    if status == DispenseStatus.CANCELLED:
        return _("the prescriber cancelled this prescription")
    if status == DispenseStatus.NOT_YET_VALID:
        return _("the prescription is valid only from {when}").format(when=_when(state.valid_from) if state else "?")
    if status == DispenseStatus.EXPIRED:
        return _("the prescription expired on {when}").format(when=_when(state.valid_until) if state else "?")
    if status == DispenseStatus.USED_UP:
        return _("every allowed dispense has been made ({allowed} of {allowed})").format(allowed=state.dispenses_allowed if state else "?")
    if status == DispenseStatus.TOO_EARLY:
        next_at = state.last_dispensed_at + state.min_interval if state else 0
        return _("the next dispense is allowed from {when}").format(when=_when(next_at))
    if status == DispenseStatus.NOT_PHARMACY:
        return _("this institution is not an active pharmacy member")
    if status == DispenseStatus.OUT_OF_SCOPE:
        return _("this pharmacy is outside the places the prescription may be dispensed")
    return _("the patient has not presented this prescription to this pharmacy")


def scope_words(state: PrescriptionState, name_of: Callable[[str], str | None]) -> str:
    if state.scope == Scope.COUNTRY:
        return _("any pharmacy in {country}").format(country=state.country)
    if state.scope == Scope.NAMED_PHARMACY:
        return _("only at {pharmacy}").format(pharmacy=name_of(state.pharmacy) or state.pharmacy)
    return _("any pharmacy of the consortium")


def presentation_summary(prescription_id: bytes, pharmacy: str, pharmacy_name: str | None, state: PrescriptionState, prescriber_name: str | None, deadline: int) -> str:
    """What the patient (or delegate) agrees to by signing PresentPrescription."""
    return _(
        "You present prescription {id} from {prescriber} to {pharmacy}. The pharmacy may then read this prescription "
        "(and nothing else of yours) and dispense it: {left} of {allowed} dispenses are left. "
        "Your wallet also lets it record the dispense in your file. This signature is valid until {deadline}."
    ).format(
        id="0x" + prescription_id.hex()[:12] + "…", prescriber=prescriber_name or state.prescriber, pharmacy=pharmacy_name or pharmacy,
        left=state.remaining, allowed=state.dispenses_allowed, deadline=_when(deadline),
    )


def state_words(state: PrescriptionState) -> str:
    """One line: used / left, and whether it can still be dispensed."""
    if state.cancelled:
        return _("cancelled; {used} of {allowed} dispensed").format(used=state.dispensed, allowed=state.dispenses_allowed)
    return _("{used} of {allowed} dispensed, {left} left, valid until {until}").format(
        used=state.dispensed, allowed=state.dispenses_allowed, left=state.remaining, until=_when(state.valid_until)
    )


def dispense_words(number: int, allowed: int, pharmacy_name: str, timestamp: int) -> str:
    return _("dispense {number} of {allowed} at {pharmacy} on {when}").format(number=number, allowed=allowed, pharmacy=pharmacy_name, when=_when(timestamp))
