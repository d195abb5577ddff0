"""`healthsilk consent ...`: grant, revoke and list who may see which of your records."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Annotated, Any, Optional

import typer

from i18n import _, ngettext
from ledger.vocabulary import (
    Category,
    Purpose,
    category_names,
    parse_categories,
    parse_purposes,
    purpose_names,
)
from wallet import render
from wallet.errors import WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.registration import ensure_registered
from wallet.session import PatientSession
from wallet.sharing import ShareResult, share_keys
from wallet.typed_data import Expected

CATEGORY_CHOICES = ", ".join(c.name for c in Category)
PURPOSE_CHOICES = ", ".join(p.name for p in Purpose if p.name)
MAX_DAYS = 3650
CLOCK_SKEW_SECONDS = 60  # start a moment in the past so a node whose clock lags ours already sees it in force

app = typer.Typer(help="Grant, revoke and list consents: which institution may see which of your records, why, and for how long.", no_args_is_help=True)

MemberArg = Annotated[str, typer.Option("--to", help="The institution: its name as listed by the consortium (or a unique part of it), or its address.", show_default=False)]


def _day(text: Optional[str], option: str) -> Optional[int]:
    """YYYY-MM-DD -> unix time of that day's start (UTC)."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise WalletError(_("{option} {text} is not a date.").format(option=option, text=repr(text)), _("Write it as YYYY-MM-DD, e.g. {option} 2024-01-31.").format(option=option)) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _masks(categories: str, purposes: str) -> tuple[int, int]:
    try:
        category_mask = parse_categories(categories)
    except ValueError as exc:
        raise WalletError(f"--categories: {exc}.", _("Use a comma-separated list of: {choices}.").format(choices=CATEGORY_CHOICES)) from None
    try:
        purpose_mask = parse_purposes(purposes)
    except ValueError as exc:
        raise WalletError(f"--purposes: {exc}.", _("Use a comma-separated list of: {choices}.").format(choices=PURPOSE_CHOICES)) from None
    return category_mask, purpose_mask


def _report_sharing(result: ShareResult, grantee_name: str) -> None:
    if result.shared:
        count = len(result.shared)
        render.info(ngettext("Shared the key of {count} existing record with {institution}.", "Shared the keys of {count} existing records with {institution}.", count).format(count=count, institution=render.escape(grantee_name)))
    for record_id, why in result.skipped.items():
        render.info(_("[yellow]Not shared[/] {record}: {reason}").format(record=record_id, reason=render.escape(why)))


@app.command()
@friendly
def grant(
    to: MemberArg,
    categories: Annotated[str, typer.Option("--categories", help=f"Comma-separated record categories: {CATEGORY_CHOICES}.", show_default=False)],
    purposes: Annotated[str, typer.Option("--purposes", help=f"Comma-separated purposes: {PURPOSE_CHOICES}.")] = "TREATMENT",
    days: Annotated[int, typer.Option("--days", min=1, max=MAX_DAYS, help="How many days from now the consent lasts.")] = 30,
    data_from: Annotated[Optional[str], typer.Option("--data-from", help="Only records dated from this day on (YYYY-MM-DD, UTC).", show_default=False)] = None,
    data_until: Annotated[Optional[str], typer.Option("--data-until", help="Only records dated up to and including this day (YYYY-MM-DD, UTC).", show_default=False)] = None,
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Let an institution see some of your records, for given purposes, for a number of days.

    Replaces any earlier consent you gave the same institution. You see exactly what you are signing before anything is signed. Registers your encryption key first if needed, and shares the keys of your existing records in scope with the institution.

    With --for PATIENT you grant as the patient's delegate, signing with your own wallet; the keys of the patient's existing records are not shared (only the patient's wallet holds them): the patient runs 'healthsilk consent share-keys' later, and records written from now on are encrypted to the institution anyway.

    Example: healthsilk consent grant --to "Yinchuan" --categories ECG,LAB --purposes TREATMENT --days 30
    """
    category_mask, purpose_mask = _masks(categories, purposes)
    start = _day(data_from, "--data-from") or 0
    end_day = _day(data_until, "--data-until")
    end = end_day + 86400 if end_day is not None else 0  # inclusive day -> exclusive bound, as the ledger checks it
    if end and start >= end:
        raise WalletError(_("--data-from must be on or before --data-until."), _("Swap or fix the dates."))
    now = int(time.time())
    valid_from, valid_until = now - CLOCK_SKEW_SECONDS, now + days * 86400
    with PatientSession(api, wallet, for_) as session:
        member = session.resolve_member(to)
        grantee = str(member["address"])
        if not session.as_delegate:  # a delegate cannot register the patient's key (it does not hold it)
            ensure_registered(session, yes=yes)
        body: dict[str, Any] = {
            "action": "grant", "patient": session.patient, "grantee": grantee, "categories": category_names(category_mask),
            "purposes": purpose_names(purpose_mask), "valid_from": valid_from, "valid_until": valid_until,
        }
        if start or end:
            body["data_from"], body["data_until"] = start, end
        terms = {"grantee": grantee, "categories": category_mask, "purposes": purpose_mask, "validFrom": valid_from, "validUntil": valid_until, "dataFrom": start, "dataUntil": end}
        result = session.sign_and_send(body, Expected("GrantConsent", session.patient, terms), yes=yes)
        # The consent is on the ledger now; failing to deliver keys is reported, not treated as a failed grant.
        sharing_error: WalletError | None = None
        if session.as_delegate:
            sharing = ShareResult()
            sharing_error = WalletError(
                _("only the patient's wallet holds the keys of the patient's existing records"),
                _("The patient can share them with: healthsilk consent share-keys --to {institution}").format(institution=grantee),
            )
        else:
            try:
                sharing = share_keys(session, member, category_mask, start, end)
            except WalletError as exc:
                sharing, sharing_error = ShareResult(), exc
    name = str(member.get("name") or grantee)
    if json_output:
        shares = {**sharing.as_dict(), "error": sharing_error.message if sharing_error else None}
        render.emit_json({**result, "patient": session.patient, "signer": session.address, "grantee": grantee, "grantee_name": name, "key_shares": shares})
        return
    if session.as_delegate:
        render.out.print(_("As delegate of patient {patient}: consent granted to {institution} until {time} (block {block}).").format(
            patient=session.patient, institution=render.escape(name), time=render.when(valid_until), block=result.get("block_number")))
    else:
        render.out.print(_("Consent granted to {institution} until {time} (block {block}).").format(institution=render.escape(name), time=render.when(valid_until), block=result.get("block_number")))
    _report_sharing(sharing, name)
    if sharing_error is not None:
        render.info(_("[yellow]Warning:[/] the keys of your existing records were not shared: {reason}").format(reason=render.escape(sharing_error.message)))
        if sharing_error.hint:
            render.info(_("[bold]What to do:[/] {hint}").format(hint=render.escape(sharing_error.hint)))


@app.command()
@friendly
def revoke(
    from_: Annotated[str, typer.Option("--from", help="The institution whose consent to withdraw: name (or a unique part) or address.", show_default=False)],
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Withdraw the consent you gave an institution; it stops being able to read your records from the next block."""
    with PatientSession(api, wallet, for_) as session:
        member = session.resolve_member(from_)
        grantee = str(member["address"])
        active = [c for c in session.client.consents(session.patient) if str(c.get("grantee", "")).lower() == grantee.lower() and c.get("status") == "ACTIVE"]
        if not active:
            if session.as_delegate:
                raise WalletError(_("Patient {patient} has no active consent for {institution}.").format(patient=session.patient, institution=member.get("name")),
                                  _("See the patient's consents with: healthsilk consent list --for {patient}").format(patient=session.patient))
            raise WalletError(_("You have no active consent for {institution}.").format(institution=member.get("name")), _("See your consents with: healthsilk consent list"))
        result = session.sign_and_send({"action": "revoke", "patient": session.patient, "grantee": grantee}, Expected("RevokeConsent", session.patient, {"grantee": grantee}), yes=yes)
    if json_output:
        render.emit_json({**result, "patient": session.patient, "signer": session.address, "grantee": grantee, "grantee_name": member.get("name")})
        return
    if session.as_delegate:
        render.out.print(_("As delegate of patient {patient}: consent for {institution} revoked (block {block}).").format(
            patient=session.patient, institution=render.escape(str(member.get("name"))), block=result.get("block_number")))
        return
    render.out.print(_("Consent for {institution} revoked (block {block}).").format(institution=render.escape(str(member.get("name"))), block=result.get("block_number")))


@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """List every consent you have given (with --for: the patient has given), as the ledger holds them (active, expired and revoked)."""
    with PatientSession(api, wallet, for_) as session:
        rows = session.client.consents(session.patient)
    if json_output:
        render.emit_json(rows)
    else:
        render.consents_table(rows)


@app.command("share-keys")
@friendly
def share_keys_command(
    to: MemberArg,
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Send an institution the keys of your records its active consent covers (again).

    'consent grant' does this already; use it if that step failed or was interrupted.
    """
    with PatientSession(api, wallet) as session:
        member = session.resolve_member(to)
        grantee = str(member["address"])
        active = [c for c in session.client.consents(session.address) if str(c.get("grantee", "")).lower() == grantee.lower() and c.get("status") == "ACTIVE"]
        if not active:
            raise WalletError(_("You have no active consent for {institution}.").format(institution=member.get("name")), _("Grant one first: healthsilk consent grant --to ..."))
        consent = active[0]
        try:
            mask = parse_categories(list(consent.get("categories") or []))
        except ValueError as exc:
            raise WalletError(_("The API listed a consent this wallet does not understand ({error}).").format(error=exc), _("Update the wallet.")) from None
        result = share_keys(session, member, mask, int(consent.get("data_from") or 0), int(consent.get("data_until") or 0))
    if json_output:
        render.emit_json(result.as_dict())
        return
    if not result.shared and not result.skipped:
        render.out.print(_("Nothing to share: the institution already holds the keys of every record in scope."))
    _report_sharing(result, str(member.get("name")))
