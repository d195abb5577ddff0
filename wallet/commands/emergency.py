"""`healthsilk emergency ...`: your emergency (break-glass) policy; for staff: breaking the glass and reviewing."""

from __future__ import annotations

from typing import Annotated

import typer

from i18n import _
from i18n.vocabulary import category_display, joined
from ledger.emergency import REVIEW_BREAK_GLASS_TYPES, SET_EMERGENCY_POLICY_TYPES
from ledger.vocabulary import category_names, parse_categories
from wallet import render
from wallet.commands.emergency_common import (
    TokenOpt,
    checked,
    require_patients_break_glass,
    signing_intro,
    staff_client,
    staff_token,
)
from wallet.errors import RefusedToSign, WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.typed_data import sign_typed_data

app = typer.Typer(help="Emergency access: your break-glass policy; for staff, breaking the glass and reviewing it.", no_args_is_help=True)
policy_app = typer.Typer(help="Who may break the glass on your records in an emergency, and for which categories.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:
        return False


@policy_app.command("show")
@friendly
def policy_show(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """Show your emergency policy (never set: allergies, medications, problems, immunisations and ECG)."""
    with PatientSession(api, wallet, for_) as session:
        policy = session.client.request_json("GET", f"/v1/patients/{session.patient}/emergency-policy")
    if json_output:
        render.emit_json(policy)
        return
    if session.as_delegate:
        render.out.print(_("The emergency policy of patient {patient} (you are their delegate):").format(patient=session.patient))
    mode = policy["mode"]
    if mode == "NEVER":
        render.out.print(_("No one may break the glass on your records."))
    else:
        render.out.print(_("In an emergency, an emergency service may break the glass on: {categories}.").format(categories=joined(category_display(policy["categories"])) if mode != "ALL" else _("all your records")))
        if mode == "DEFAULT":
            render.out.print(_("This is the default; change it with: healthsilk emergency policy set"))


@policy_app.command("set")
@friendly
def policy_set(
    categories: Annotated[str | None, typer.Option("--categories", help="Allowed categories, e.g. ALLERGIES,MEDICATIONS,SUMMARY,IMMUNIZATIONS,ECG.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Allow break-glass on all your records.")] = False,
    never: Annotated[bool, typer.Option("--never", help="Never allow break-glass.")] = False,
    api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, yes: YesOpt = False, json_output: JsonOpt = False,
) -> None:
    """Set your emergency policy: signed here (EIP-712), relayed by the institution."""
    if sum([bool(categories), all_, never]) != 1:
        raise WalletError(_("Give exactly one of --categories, --all or --never."), _("For example: healthsilk emergency policy set --categories ALLERGIES,MEDICATIONS"))
    mode, mask, names = ("NEVER", 0, []) if never else ("ALL", 0, []) if all_ else ("CATEGORIES", 0, [])
    if categories:
        try:
            mask = parse_categories(categories)
        except ValueError as exc:
            raise WalletError(str(exc), _("Categories are: {names}").format(names=", ".join(category_names(0xFFF)))) from None
        names = category_names(mask)
    with PatientSession(api, wallet, for_) as session:
        path = f"/v1/patients/{session.patient}/emergency-policy"
        prepared = session.client.request_json("POST", path + "/prepare", json={"mode": mode, "categories": names})
        typed = prepared["typed_data"]
        message = checked(session, typed, "SetEmergencyPolicy", SET_EMERGENCY_POLICY_TYPES["SetEmergencyPolicy"])
        expected_mode = {"CATEGORIES": 1, "ALL": 2, "NEVER": 3}[mode]
        if message["patient"] != session.patient or message["mode"] != expected_mode or message["categories"] != mask:
            raise RefusedToSign(_("the API asked to sign another policy than the one you gave"))
        render.info(signing_intro(session, prepared["summary"]))
        if not yes and not _confirm(_("Sign?")):
            raise WalletError(_("Not signed: you declined."), _("Nothing was signed or sent."))
        result = session.client.request_json("POST", path, json={"typed_data": typed, "signature": sign_typed_data(session.identity.account, typed)})
    if json_output:
        render.emit_json(result)
        return
    render.out.print(_("Emergency policy set (block {block}).").format(block=result["block_number"]))


@app.command("open")
@friendly
def open_(
    patient: Annotated[str, typer.Argument(help="The patient's address.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (free text; only the patient can read it).", show_default=False)],
    reason_code: Annotated[str, typer.Option("--reason-code", help="FHIR v3 ActReason: ETREAT, BTG or ERTREAT.")] = "ETREAT",
    categories: Annotated[str | None, typer.Option("--categories", help="Default: the summary categories the patient allows.", show_default=False)] = None,
    hours: Annotated[float, typer.Option("--hours", help="How long (at most 24).", min=0.1, max=24)] = 4,
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Break the glass on a patient's records as your institution (it must hold the EMERGENCY role). Staff only."""
    secret = staff_token(token)
    if not secret:
        raise WalletError(_("Breaking the glass needs your institution's API token."), _("Pass --token hs_... or set HEALTHSILK_API_TOKEN."))
    body = {"patient": patient, "reason_code": reason_code.upper(), "reason": reason, "categories": categories.split(",") if categories else [], "duration_seconds": int(hours * 3600)}
    with staff_client(api, secret) as client:
        view = client.request_json("POST", "/v1/emergency/break-glass", json=body)
    if json_output:
        render.emit_json(view)
        return
    render.out.print(_("Break-glass {id} open until {until} on {categories}. The patient is told now; it will be reviewed.").format(
        id=view["id"], until=render.when(view["expires_at"]), categories=joined(category_display(view["categories"]))))
    render.out.print(_("Read with: GET /v1/records/<record>?flow=emergency&ref={id}, or the summary: GET /v1/patients/{patient}/summary?ref={id}").format(id=view["id"], patient=view["patient"]))


@app.command("review")
@friendly
def review(
    break_glass_id: Annotated[str, typer.Argument(help="The break-glass id (see 'healthsilk alerts').", show_default=False)],
    justified: Annotated[bool, typer.Option("--justified/--unjustified", help="Your verdict.")],
    note: Annotated[str, typer.Option("--note", help="A note (kept off chain; its hash is recorded).")] = "",
    api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, token: TokenOpt = None, yes: YesOpt = False, json_output: JsonOpt = False,
) -> None:
    """Review a break-glass: as the patient (signed in this wallet) or, with --token, as a privacy officer."""
    secret = staff_token(token)
    path = f"/v1/emergency/break-glass/{break_glass_id}/review"
    if secret:
        with staff_client(api, secret) as client:
            result = client.request_json("POST", path, json={"justified": justified, "note": note})
    else:
        with PatientSession(api, wallet, for_) as session:
            if session.as_delegate:
                require_patients_break_glass(session, break_glass_id)
            prepared = session.client.request_json("POST", path + "/prepare", json={"justified": justified, "note": note})
            typed = prepared["typed_data"]
            message = checked(session, typed, "ReviewBreakGlass", REVIEW_BREAK_GLASS_TYPES["ReviewBreakGlass"])
            if "0x" + bytes(message["id"]).hex() != break_glass_id.lower() or message["justified"] is not justified:
                raise RefusedToSign(_("the API asked to sign another review than the one you gave"))
            render.info(signing_intro(session, prepared["summary"]))
            if not yes and not _confirm(_("Sign?")):
                raise WalletError(_("Not signed: you declined."), _("Nothing was signed or sent."))
            result = session.client.request_json("POST", path + "/relay", json={"typed_data": typed, "signature": sign_typed_data(session.identity.account, typed)})
    if json_output:
        render.emit_json(result)
        return
    verdict = _("justified") if justified else _("unjustified")
    render.out.print(_("Break-glass {id} reviewed as {verdict} (block {block}).").format(id=break_glass_id, verdict=verdict, block=result["block_number"]))
