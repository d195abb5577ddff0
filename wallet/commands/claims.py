"""`healthsilk claims ...`: what providers claimed on your cards, and confirming the care you received."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from eth_utils import to_checksum_address
from rich.markup import escape
from rich.table import Table

from wallet import render
from wallet.commands.card import money
from wallet.errors import RefusedToSign, WalletError
from wallet.options import ApiOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.typed_data import check_confirm_claim, sign_typed_data

app = typer.Typer(help="Claims providers made on your e-health cards: list them and confirm the care you received.", no_args_is_help=True)


def _state(claim: dict[str, Any]) -> str:
    status = str(claim.get("status", "?"))
    if status == "SUBMITTED":
        return "waiting for the payer" if claim.get("confirmed") else "waiting for your confirmation"
    return {"PAID": "paid", "REJECTED": "rejected by the payer"}.get(status, status.lower())


def _provider(claim: dict[str, Any]) -> str:
    return render.who(claim.get("provider_name"), claim.get("provider"))


@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, json_output: JsonOpt = False) -> None:
    """List the claims on your cards, newest first, and whether they wait for your confirmation."""
    with PatientSession(api, wallet) as session:
        claims = session.client.claims(session.address)
    if json_output:
        render.emit_json(claims)
        return
    if not claims:
        render.out.print("No provider has claimed anything on your cards.")
        return
    table = Table(title="Claims on your cards", title_justify="left")
    for column in ("claim", "submitted", "provider", "amount", "package", "evidence record", "state"):
        table.add_column(column, overflow="fold")
    for claim in claims:
        table.add_row(
            str(claim.get("claim_id")), render.when(claim.get("submitted_at")), escape(_provider(claim)), money(claim.get("amount"), claim.get("currency")),
            escape(str(claim.get("package_code"))), render.short(claim.get("record_id")), _state(claim),
        )
    render.out.print(table)
    if any(_state(c) == "waiting for your confirmation" for c in claims):
        render.out.print("If you received that care, confirm it with: healthsilk claims confirm <claim>")


def _evidence(session: PatientSession, record_id: str) -> str:
    """The evidence record as the patient knows it (category and date from their own record list)."""
    try:
        records = session.client.records(session.address)
    except WalletError:
        records = []
    for row in records:
        if str(row.get("record_id", "")).lower() == record_id.lower():
            dated = render.when(row.get("anchored_time"), date_only=True) if row.get("anchored_time") else f"block {row.get('anchored_at', '?')}"
            return f"your {row.get('category')} record {record_id} (by {row.get('author_name') or row.get('author')}, {dated})"
    return f"record {record_id}"


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
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Confirm that you received the care a provider claims for, so the payer can pay it.

    You see who claims how much for what, and which of your records is the evidence, before anything is signed. The signature is checked against the claim and this network's payments contract, made in this wallet, and relayed by the institution (you pay no fees).
    """
    with PatientSession(api, wallet) as session:
        client = session.client
        claim = client.claim(claim_id)
        if str(claim.get("patient", "")).lower() != session.address.lower():
            raise WalletError(f"Claim {claim_id} is not on one of your cards.", "See your claims with: healthsilk claims list")
        if claim.get("status") != "SUBMITTED" or claim.get("confirmed"):
            raise WalletError(f"Claim {claim_id} has nothing to confirm: it is {_state(claim)}.", "See your claims with: healthsilk claims list")
        network = client.network()
        try:
            chain_id = int(network["chain_id"])
            payments_contract = to_checksum_address(network["contracts"]["HealthCardPayments"])
        except (KeyError, TypeError, ValueError):
            raise RefusedToSign("the API's /v1/network answer does not name this network's HealthCardPayments contract") from None
        prepared = client.prepare_confirmation(claim_id)
        typed = prepared["typed_data"]
        message = check_confirm_claim(typed, claim, patient=session.address, chain_id=chain_id, payments_contract=payments_contract)
        # The words come from the checked message (provider by the consortium's own directory), not from the API's summary.
        provider = message["provider"]
        provider_name = session.names().get(provider) or "an institution that is not a consortium member"
        package = message["packageCode"].rstrip(b"\x00").decode("ascii")
        institution = session.network().institution_name or session.api_url
        render.info(f"[bold]You are about to confirm claim {claim_id}[/] (relayed by {escape(institution)}):")
        for line in (
            f"{provider_name} ({provider})",
            f"claims {money(message['amount'], claim.get('currency'))} from your card {claim.get('card_id')} ({claim.get('programme_name')})",
            f"for package {package}",
            f"evidence: {_evidence(session, '0x' + message['recordId'].hex())}",
            f"You confirm you received this care; the payer may then pay it. Nonce {message['nonce']}; signature valid until {render.when(message['deadline'])}.",
        ):
            render.info(f"  • {escape(line)}")
        if not yes and not _confirm("Confirm and sign?"):
            raise WalletError("Not confirmed: you declined.", "Nothing was signed or sent. Pass --yes to confirm without the question.")
        signature = sign_typed_data(session.identity.account, typed)
        result = client.relay_confirmation(claim_id, typed, signature)
    if json_output:
        render.emit_json({**result, "claim_id": claim_id})
        return
    render.out.print(f"Claim {claim_id} confirmed (block {result.get('block_number')}); the payer can now pay {escape(provider_name)}.")
