"""`healthsilk card ...`: your e-health cards (coverage left, validity) and everything that happened to them."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from i18n import N_, _
from i18n.formatting import money_text
from wallet import render
from wallet.errors import WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, friendly
from wallet.session import PatientSession

# Card states as the ledger names them (lower-cased) -> what a person reads.
CARD_STATUS = {"active": N_("active"), "suspended": N_("suspended"), "cancelled": N_("cancelled"), "expired": N_("expired")}

app = typer.Typer(help="Your e-health cards: what each programme covers, what is left, and the card's history.", no_args_is_help=True)


def money(amount: Any, currency: Any) -> str:
    """Minor units from the API -> money in the current language, in currency units ("1 200,00 CNY")."""
    try:
        return money_text(int(amount), str(currency))
    except (TypeError, ValueError):
        return f"{amount} {currency}"


def _status(card: dict[str, Any]) -> str:
    status = str(card.get("status", "?")).lower()
    if status == "active" and not card.get("eligible", True):
        return _("active (not usable now: expired or limit used up)")
    return _(CARD_STATUS[status]) if status in CARD_STATUS else status


def cards_table(cards: list[dict[str, Any]]) -> None:
    if not cards:
        render.out.print(_("You have no e-health card yet. A payer programme (insurer, government) issues one to your wallet address."))
        return
    table = Table(title=_("Your e-health cards"), title_justify="left")
    for column in (_("card"), _("programme"), _("status"), _("annual limit"), _("used"), _("reserved"), _("remaining"), _("valid until")):
        table.add_column(column, overflow="fold")
    for card in cards:
        currency = card.get("currency")
        table.add_row(
            str(card.get("card_id")), escape(str(card.get("programme_name"))), _status(card), money(card.get("annual_limit"), currency),
            money(card.get("used"), currency), money(card.get("reserved"), currency), money(card.get("remaining"), currency), render.when(card.get("valid_until")),
        )
    render.out.print(table)
    render.out.print(_("Reserved = promised to providers (pre-authorised or claimed) but not paid yet. See what happened with: healthsilk card history"))


@app.command()
@friendly
def show(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """Show your cards (with --for: the patient's) across programmes: limit, used, reserved, remaining, validity and status."""
    with PatientSession(api, wallet, for_) as session:
        cards = session.client.cards(session.patient)
    if json_output:
        render.emit_json(cards)
    else:
        cards_table(cards)


@app.command()
@friendly
def history(
    card_id: Annotated[Optional[int], typer.Argument(help="The card (see 'healthsilk card show'); default: all your cards.", show_default=False, min=1)] = None,
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Everything that happened to your card(s) (with --for: the patient's), in plain words: issue, renewals, pre-authorisations, claims, payments, cash."""
    with PatientSession(api, wallet, for_) as session:
        cards = session.client.cards(session.patient)
        ids = [int(c["card_id"]) for c in cards if "card_id" in c]
        if card_id is not None:
            if card_id not in ids:
                raise WalletError(_("Card {card} is not one of your cards.").format(card=card_id), _("Your cards: {cards} (see: healthsilk card show).").format(cards=", ".join(map(str, ids)) or _("none")))
            ids = [card_id]
        histories = {cid: session.client.card_history(cid) for cid in ids}
    if json_output:
        render.emit_json([{"card_id": cid, **entry} for cid, entries in histories.items() for entry in entries])
        return
    if not histories:
        render.out.print(_("You have no e-health card yet."))
        return
    names = {int(c["card_id"]): str(c.get("programme_name")) for c in cards}
    for cid, entries in histories.items():
        table = Table(title=_("Card {card} — {programme}").format(card=cid, programme=escape(names.get(cid, ""))), title_justify="left")
        table.add_column(_("when"), no_wrap=True)
        table.add_column(_("what happened"), overflow="fold")
        for entry in entries:
            table.add_row(render.when(entry.get("time")), escape(str(entry.get("words"))))
        render.out.print(table)
