"""`healthsilk payer ...`: a payer runs its e-card programmes through its own institution API (token scopes read,
write): create a programme, empanel providers, fund the escrow, issue cards, review, approve or reject claims, and
read the programme's statement. Money moves only after a plain-words summary and a yes (or --yes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

import typer
from eth_utils import is_address, to_checksum_address
from rich.markup import escape
from rich.table import Table

from i18n import _
from wallet import render
from wallet.client import resolve_api_url
from wallet.commands.card import money
from wallet.errors import WalletError
from wallet.options import ApiOpt, JsonOpt, YesOpt, friendly
from wallet.payer_client import PayerClient, resolve_token, to_minor_units

app = typer.Typer(help="For payers: e-card programmes, providers, escrow, cards, claims and statements, through your institution's API.", no_args_is_help=True)

TokenOpt = Annotated[str | None, typer.Option("--token", help="Institution API token with scopes read,write. Default: $HEALTHSILK_API_TOKEN.", show_default=False)]
ProgrammeArg = Annotated[int, typer.Argument(help="The programme id.", min=1, show_default=False)]
ClaimArg = Annotated[int, typer.Argument(help="The claim id (see 'healthsilk payer claims').", min=1, show_default=False)]


def _client(api: str | None, token: str | None) -> PayerClient:
    return PayerClient(resolve_api_url(api), resolve_token(token))


def _confirm(summary: str, yes: bool) -> None:
    render.info(_("[bold]You are about to:[/] {summary}").format(summary=escape(summary)))
    if yes:
        return
    try:
        agreed = bool(typer.confirm(_("Go ahead?"), default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        agreed = False
    if not agreed:
        raise WalletError(_("Nothing was done."), _("Run the command again and answer yes, or add --yes."))


def _send(summary: str, yes: bool, send: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Every action that writes to the ledger goes through here, so none is sent without its plain-words summary and a yes."""
    _confirm(summary, yes)
    return send()


def _emit(answer: Any, json_output: bool, show: Callable[[Any], None]) -> None:
    """The answer as JSON (--json) or in words."""
    if json_output:
        render.emit_json(answer)
    else:
        show(answer)


def _say(words: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], None]:
    return lambda answer: render.out.print(words(answer))


def _patient_address(text: str) -> str:
    if not is_address(text):
        raise WalletError(_("{value} is not a valid address (or its checksum is wrong).").format(value=text), _("Copy the patient's address again."))
    return to_checksum_address(text)


def _amount_or_zero(text: str, currency: str) -> int:
    """Minor units, or 0 (the contract's "default" / "never") for an empty or zero amount."""
    return to_minor_units(text, currency) if text.strip() not in ("", "0") else 0


def _member(client: PayerClient, name_or_address: str) -> dict[str, Any]:
    members = client.members()
    if name_or_address.startswith("0x"):
        if not is_address(name_or_address):
            raise WalletError(_("{value} is not a valid address (or its checksum is wrong).").format(value=name_or_address), _("Copy the address again, or give the member's name."))
        wanted = to_checksum_address(name_or_address)
        found = next((m for m in members if str(m.get("address")) == wanted), None)
    else:
        found = next((m for m in members if str(m.get("name", "")).casefold() == name_or_address.casefold()), None)
    if found is None:
        raise WalletError(_("No consortium member is called {member}.").format(member=name_or_address), _("Give the member's exact name or its 0x address."))
    return found


def _end_of_day(text: str) -> int:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise WalletError(_("{value} is not a date.").format(value=repr(text)), _("Write it as YYYY-MM-DD.")) from None
    return int(datetime.combine(day, time(23, 59, 59), tzinfo=UTC).timestamp())


def _programme_lines(programme: dict[str, Any]) -> list[tuple[str, str]]:
    currency = programme.get("currency")
    return [
        (_("programme"), f"{programme.get('programme_id')} — {programme.get('name')}"),
        (_("payer"), render.who(programme.get("payer_name"), programme.get("payer"))),
        (_("currency"), str(currency)),
        (_("default annual limit"), money(programme.get("default_annual_limit"), currency)),
        (_("approved at once below"), money(programme.get("auto_approval_threshold"), currency) if programme.get("auto_approval_threshold") else _("never")),
        (_("escrow"), money(programme.get("escrow_balance"), currency)),
    ]


@app.command()
@friendly
def programme(
    programme_id: Annotated[int | None, typer.Argument(help="Show this programme; leave out to create one with --name.", min=1, show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="Create a programme with this name.", show_default=False)] = None,
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code, e.g. KZT.")] = "KZT",
    annual_limit: Annotated[str, typer.Option("--annual-limit", help="Default yearly limit per card, in currency units.")] = "0",
    auto_approve_below: Annotated[str, typer.Option("--auto-approve-below", help="Pre-authorisations below this amount are approved at once (0 = never).")] = "0",
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Show a programme, or create one (this institution becomes its payer)."""
    with _client(api, token) as client:
        if programme_id is not None:
            answer = client.programme(programme_id)
        elif name:
            currency = currency.strip().upper()
            limit, threshold = _amount_or_zero(annual_limit, currency), _amount_or_zero(auto_approve_below, currency)
            body = {"name": name, "currency": currency, "default_annual_limit": limit, "auto_approval_threshold": threshold}
            answer = _send(_("create the programme {name} in {currency}, {limit} a year per card, paid by this institution").format(name=name, currency=currency, limit=money(limit, currency)), yes,
                           lambda: client.create_programme(body))
        else:
            raise WalletError(_("Give a programme id to show, or --name to create one."), _("See: healthsilk payer programme --help"))
    _emit(answer, json_output, lambda a: render.key_value(_("E-card programme"), _programme_lines(a)))


@app.command()
@friendly
def empanel(
    programme_id: ProgrammeArg,
    provider: Annotated[str, typer.Argument(help="The provider: its exact member name or its 0x address.", show_default=False)],
    delist: Annotated[bool, typer.Option("--delist", help="Remove the provider from the programme instead.")] = False,
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Let a provider treat the programme's card holders and claim for it (or stop it with --delist)."""
    with _client(api, token) as client:
        member = _member(client, provider)
        programme_row = client.programme(programme_id)
        words = _("remove {provider} from programme {programme}") if delist else _("empanel {provider} in programme {programme}: it may then claim for care given to card holders")
        answer = _send(words.format(provider=render.who(member.get("name"), member.get("address")), programme=programme_row.get("name")), yes,
                       lambda: client.empanel(programme_id, str(member["address"]), not delist))
    _emit(answer, json_output, _say(lambda a: _("{provider} is {state} in programme {programme}.").format(
        provider=render.who(a.get("provider_name"), a.get("provider")), state=_("empanelled") if a.get("empanelled") else _("not empanelled"), programme=programme_id)))


@app.command()
@friendly
def fund(
    programme_id: ProgrammeArg,
    amount: Annotated[str, typer.Argument(help="How much, in the programme's currency units (e.g. 1200.50).", show_default=False)],
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Put money into the programme's escrow, from which claims and cash allowances are paid."""
    with _client(api, token) as client:
        programme_row = client.programme(programme_id)
        currency = str(programme_row.get("currency"))
        minor = to_minor_units(amount, currency)
        answer = _send(_("fund the escrow of programme {programme} with {amount} (now {balance})").format(
            programme=programme_row.get("name"), amount=money(minor, currency), balance=money(programme_row.get("escrow_balance"), currency)), yes,
            lambda: client.fund(programme_id, minor))
    _emit(answer, json_output, _say(lambda a: _("Escrow of programme {programme} is now {balance}.").format(programme=programme_id, balance=money(a.get("escrow_balance"), currency))))


@app.command()
@friendly
def card(
    programme_id: ProgrammeArg,
    patient: Annotated[str, typer.Argument(help="The patient's 0x address.", show_default=False)],
    valid_until: Annotated[str, typer.Option("--valid-until", help="Last day of validity, YYYY-MM-DD (UTC).")],
    annual_limit: Annotated[str, typer.Option("--annual-limit", help="Yearly limit in currency units (0 = the programme's default).")] = "0",
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Issue an e-health card of the programme to a patient."""
    holder = _patient_address(patient)
    until = _end_of_day(valid_until)
    with _client(api, token) as client:
        programme_row = client.programme(programme_id)
        currency = str(programme_row.get("currency"))
        limit = _amount_or_zero(annual_limit, currency)
        shown = money(limit, currency) if limit else _("the programme's default ({limit})").format(limit=money(programme_row.get("default_annual_limit"), currency))
        answer = _send(_("issue a card of programme {programme} to patient {patient}, {limit} a year, valid until {until}").format(
            programme=programme_row.get("name"), patient=holder, limit=shown, until=render.when(until, date_only=True)), yes,
            lambda: client.issue_card(programme_id, holder, until, limit))
    _emit(answer, json_output, _say(lambda a: _("Card {card} issued to {patient} ({programme}), valid until {until}.").format(
        card=a.get("card_id"), patient=a.get("patient"), programme=a.get("programme_name"), until=render.when(a.get("valid_until"), date_only=True))))


def _claim_state(claim: dict[str, Any]) -> str:
    status = str(claim.get("status", "?"))
    if status == "SUBMITTED":
        return _("to decide (the patient confirmed the care)") if claim.get("confirmed") else _("to decide (not confirmed by the patient yet)")
    return {"PAID": _("paid"), "REJECTED": _("rejected")}.get(status, status.lower())


@app.command()
@friendly
def claims(
    patient: Annotated[str | None, typer.Option("--patient", help="The claims on this patient's cards.", show_default=False)] = None,
    claim_id: Annotated[int | None, typer.Option("--claim", min=1, help="Only this claim.", show_default=False)] = None,
    api: ApiOpt = None,
    token: TokenOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Claims to review: those on a patient's cards (--patient), or one claim (--claim), with their state in words."""
    with _client(api, token) as client:
        if claim_id is not None:
            rows = [client.claim(claim_id)]
        elif patient:
            rows = client.claims(_patient_address(patient))
        else:
            raise WalletError(_("Say whose claims: --patient ADDRESS or --claim ID."), _("See: healthsilk payer claims --help"))
    _emit(rows, json_output, _claims_table)


def _claims_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        render.out.print(_("No claims."))
        return
    table = Table(title=_("Claims"), title_justify="left")
    for column in (_("claim"), _("submitted"), _("provider"), _("amount"), _("package"), _("state")):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row.get("claim_id")), render.when(row.get("submitted_at")), escape(render.who(row.get("provider_name"), row.get("provider"))),
                      money(row.get("amount"), row.get("currency")), escape(str(row.get("package_code"))), _claim_state(row))
    render.out.print(table)


@app.command()
@friendly
def approve(
    claim_id: ClaimArg,
    override_confirmation: Annotated[bool, typer.Option("--override-confirmation", help="Pay although the patient has not confirmed the care (auditors see it).")] = False,
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Approve a claim: the provider is paid from the programme's escrow."""
    with _client(api, token) as client:
        claim = client.claim(claim_id)
        if not claim.get("confirmed") and not override_confirmation:
            raise WalletError(_("The patient has not confirmed the care of claim {claim}.").format(claim=claim_id),
                              _("Wait for the patient's confirmation, or pay anyway with --override-confirmation (auditors see it)."))
        answer = _send(_("pay claim {claim}: {summary}").format(claim=claim_id, summary=claim.get("summary", "")), yes, lambda: client.approve_claim(claim_id, override_confirmation))
    _emit(answer, json_output, _say(lambda a: _("Claim {claim} paid: {amount} to {provider}; escrow now {escrow}.").format(
        claim=claim_id, amount=money(a.get("amount"), a.get("currency")), provider=a.get("provider"), escrow=money(a.get("escrow_after"), a.get("currency")))))


@app.command()
@friendly
def reject(
    claim_id: ClaimArg,
    reason_code: Annotated[int, typer.Option("--reason-code", min=0, max=65535, help="Your reason code (a code, never free text: it is kept on the ledger).")],
    api: ApiOpt = None,
    token: TokenOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Reject a claim: nothing is paid, and the card's reserved amount is freed."""
    with _client(api, token) as client:
        claim = client.claim(claim_id)
        answer = _send(_("reject claim {claim} with reason code {code}: {summary}").format(claim=claim_id, code=reason_code, summary=claim.get("summary", "")), yes,
                       lambda: client.reject_claim(claim_id, reason_code))
    _emit(answer, json_output, _say(lambda a: _("Claim {claim} is {state}.").format(claim=claim_id, state=_claim_state(a))))


@app.command()
@friendly
def statement(programme_id: ProgrammeArg, api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """The programme's escrow account, rebuilt from the ledger's events, and whether it balances."""
    with _client(api, token) as client:
        answer = client.statement(programme_id)
    _emit(answer, json_output, lambda a: _statement(programme_id, a))


def _statement(programme_id: int, answer: dict[str, Any]) -> None:
    currency = answer.get("currency")
    render.key_value(_("Statement of programme {programme} ({name})").format(programme=programme_id, name=answer.get("name")), [
        (_("funded"), money(answer.get("funded"), currency)), (_("withdrawn"), money(answer.get("withdrawn"), currency)),
        (_("paid to providers"), money(answer.get("paid"), currency)), (_("cash to patients"), money(answer.get("disbursed"), currency)),
        (_("escrow"), money(answer.get("escrow"), currency)), (_("balances"), _("yes") if answer.get("balanced") else _("NO")),
        (_("claims paid"), str(answer.get("claims_paid"))), (_("paid without the patient's confirmation"), str(answer.get("overridden_payments"))),
    ])
    entries = answer.get("entries") or []
    if entries:
        table = Table(title=_("Entries"), title_justify="left")
        for column in (_("when"), _("what happened")):
            table.add_column(column, overflow="fold")
        for entry in entries:
            table.add_row(render.when(entry.get("time")), escape(str(entry.get("words"))))
        render.out.print(table)
