"""`healthsilk claims ...`: what providers claimed on your cards, and confirming the care you received."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from eth_utils import to_checksum_address
from rich.markup import escape
from rich.table import Table

from i18n import N_, _
from wallet import render
from wallet.commands.card import money
from wallet.errors import RefusedToSign, WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.typed_data import check_confirm_claim, sign_typed_data

WAITING_FOR_YOU = N_("waiting for your confirmation")

app = typer.Typer(help="Claims providers made on your e-health cards: list them and confirm the care you received.", no_args_is_help=True)


def _state(claim: dict[str, Any]) -> str:
    status = str(claim.get("status", "?"))
    if status == "SUBMITTED":
        return _("waiting for the payer") if claim.get("confirmed") else _(WAITING_FOR_YOU)
    return {"PAID": _("paid"), "REJECTED": _("rejected by the payer")}.get(status, status.lower())


def _provider(claim: dict[str, Any]) -> str:
    return render.who(claim.get("provider_name"), claim.get("provider"))


@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """List the claims on your cards (with --for: the patient's), newest first, and whether they wait for confirmation."""
    with PatientSession(api, wallet, for_) as session:
        claims = session.client.claims(session.patient)
    if json_output:
        render.emit_json(claims)
        return
    if not claims:
        render.out.print(_("No provider has claimed anything on your cards."))
        return
    table = Table(title=_("Claims on your cards"), title_justify="left")
    for column in (_("claim"), _("submitted"), _("provider"), _("amount"), _("package"), _("evidence record"), _("state")):
        table.add_column(column, overflow="fold")
    for claim in claims:
        table.add_row(
            str(claim.get("claim_id")), render.when(claim.get("submitted_at")), escape(_provider(claim)), money(claim.get("amount"), claim.get("currency")),
            escape(str(claim.get("package_code"))), render.short(claim.get("record_id")), _state(claim),
        )
    render.out.print(table)
    if any(_state(c) == _(WAITING_FOR_YOU) for c in claims):
        render.out.print(_("If you received that care, confirm it with: healthsilk claims confirm <claim>"))


def _evidence(session: PatientSession, record_id: str) -> str:
    """The evidence record as the patient knows it (category and date from their own record list)."""
    try:
        records = session.client.records(session.patient)
    except WalletError:
        records = []
    for row in records:
        if str(row.get("record_id", "")).lower() == record_id.lower():
            dated = render.when(row.get("anchored_time"), date_only=True) if row.get("anchored_time") else _("block {number}").format(number=row.get("anchored_at", "?"))
            return _("your {category} record {record} (by {author}, {date})").format(
                category=row.get("category"), record=record_id, author=row.get("author_name") or row.get("author"), date=dated)
    return _("record {record}").format(record=record_id)


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        return False


@app.command()
@friendly
def confirm(
    claim_id: Annotated[int, typer.Argument(help="The claim (see 'healthsilk claims list').", min=1, show_default=False)],
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Confirm that you received the care a provider claims for, so the payer can pay it.

    With --for PATIENT you confirm, as the patient's delegate and with your own signature, that the patient received it.

    You see who claims how much for what, and which of your records is the evidence, before anything is signed. The signature is checked against the claim and this network's payments contract, made in this wallet, and relayed by the institution (you pay no fees).
    """
    with PatientSession(api, wallet, for_) as session:
        client = session.client
        claim = client.claim(claim_id)
        if str(claim.get("patient", "")).lower() != session.patient.lower():
            raise WalletError(_("Claim {claim} is not on one of your cards.").format(claim=claim_id), _("See your claims with: healthsilk claims list"))
        if claim.get("status") != "SUBMITTED" or claim.get("confirmed"):
            raise WalletError(_("Claim {claim} has nothing to confirm: it is {state}.").format(claim=claim_id, state=_state(claim)), _("See your claims with: healthsilk claims list"))
        network = client.network()
        try:
            chain_id = int(network["chain_id"])
            payments_contract = to_checksum_address(network["contracts"]["HealthCardPayments"])
        except (KeyError, TypeError, ValueError):
            raise RefusedToSign(_("the API's /v1/network answer does not name this network's HealthCardPayments contract")) from None
        prepared = client.prepare_confirmation(claim_id)
        typed = prepared["typed_data"]
        message = check_confirm_claim(typed, claim, patient=session.patient, chain_id=chain_id, payments_contract=payments_contract)
        # The words come from the checked message (provider by the consortium's own directory), not from the API's summary.
        provider = message["provider"]
        provider_name = session.names().get(provider) or _("an institution that is not a consortium member")
        package = message["packageCode"].rstrip(b"\x00").decode("ascii")
        institution = session.network().institution_name or session.api_url
        if session.as_delegate:
            render.info(_("[bold]As delegate of patient {patient}, you ({signer}) are about to confirm claim {claim}[/] (relayed by {institution}):").format(
                patient=session.patient, signer=session.address, claim=claim_id, institution=escape(institution)))
        else:
            render.info(_("[bold]You are about to confirm claim {claim}[/] (relayed by {institution}):").format(claim=claim_id, institution=escape(institution)))
        for line in (
            _("{name} ({address})").format(name=provider_name, address=provider),
            _("claims {amount} from your card {card} ({programme})").format(amount=money(message["amount"], claim.get("currency")), card=claim.get("card_id"), programme=claim.get("programme_name")),
            _("for package {package}").format(package=package),
            _("evidence: {record}").format(record=_evidence(session, "0x" + message["recordId"].hex())),
            (_("As delegate, you confirm the patient received this care; the payer may then pay it. Nonce {nonce} (yours); signature valid until {time}.") if session.as_delegate
             else _("You confirm you received this care; the payer may then pay it. Nonce {nonce}; signature valid until {time}.")).format(nonce=message["nonce"], time=render.when(message["deadline"])),
        ):
            render.info(f"  • {escape(line)}")
        if not yes and not _confirm(_("Confirm and sign?")):
            raise WalletError(_("Not confirmed: you declined."), _("Nothing was signed or sent. Pass --yes to confirm without the question."))
        signature = sign_typed_data(session.identity.account, typed)
        result = client.relay_confirmation(claim_id, typed, signature)
    if json_output:
        render.emit_json({**result, "claim_id": claim_id})
        return
    render.out.print(_("Claim {claim} confirmed (block {block}); the payer can now pay {provider}.").format(claim=claim_id, block=result.get("block_number"), provider=escape(provider_name)))
