"""`healthsilk alerts`: your alert inbox (who broke the glass on your records, why, when, until when, what was read),
or with --token the institution's inbox; `--watch` keeps showing new alerts as they come."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from i18n import N_, _
from i18n.vocabulary import category_display, joined, review_display
from wallet import render
from wallet.commands.emergency_common import (
    TokenOpt,
    reason_for,
    staff_client,
    staff_token,
)
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, friendly
from wallet.session import PatientSession

app = typer.Typer(help="Your alerts: break-glass access to your records and other alerts of the care flows.", invoke_without_command=True)


# What an alert is about, in words (the API's `kind` code stays in --json).
KINDS = {"break-glass": N_("break-glass"), "outbreak": N_("outbreak alert")}
# Why a break-glass was opened: the FHIR v3 ActReason code the staff gave (the code stays in --json).
REASONS = {"ETREAT": N_("emergency treatment"), "ERTREAT": N_("emergency room treatment"), "BTG": N_("break the glass")}


def _rows(alerts: list[dict[str, Any]], reasons: dict[str, str]) -> Table:
    table = Table(title=_("Alerts"), title_justify="left")
    for column in (_("when"), _("who"), _("what"), _("why"), _("until"), _("records read"), _("review")):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        d = alert.get("details", {})
        code = str(d.get("reason_code", ""))
        why = _("{words} ({code})").format(words=_(REASONS[code]), code=code) if code in REASONS else code  # the code staff know it by, too
        if alert["id"] in reasons:  # the physician's own words, shown as written
            why = _("{why}: {reason}").format(why=why, reason=reasons[alert["id"]])
        table.add_row(
            render.when(alert.get("raised_at")), escape(render.who(alert.get("raised_by_name"), alert.get("raised_by"))),
            escape(_what(alert.get("kind"), d.get("categories", []))), escape(why), render.when(d.get("expires_at")),
            "\n".join(render.short(r) for r in d.get("records_read", [])) or _("none yet"), review_display(d.get("review")),
        )
    return table


def _what(code: str | None, categories: list[str]) -> str:
    """"break-glass: allergies and intolerances, electrocardiograms" in the current language."""
    kind = _(KINDS[code]) if code in KINDS else str(code or "")
    return _("{kind}: {categories}").format(kind=kind, categories=joined(category_display(categories))) if categories else kind


@app.callback()
@friendly
def alerts(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", help="Keep showing new alerts until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks with --watch.", min=0.5)] = 5.0,
    api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Show your alerts (the patient's wallet), or with --token your institution's inbox."""
    if ctx.invoked_subcommand is not None:
        return
    secret = staff_token(token)
    session = None if secret else PatientSession(api, wallet, for_)
    client = staff_client(api, secret) if secret else session.client  # type: ignore[union-attr]
    params = {"patient": session.patient} if session is not None else {}
    seen: set[str] = set()
    reasons: dict[str, str] = {}
    try:
        while True:
            found = [a for a in client.request_json("GET", "/v1/alerts", params=params) if a["id"] not in seen]
            seen.update(a["id"] for a in found)
            if session is not None:  # the free text opens only with the patient's key, here
                for a in found:
                    if a.get("source") == "emergency" and a.get("details", {}).get("reason_hash"):
                        reasons[a["id"]] = reason_for(session, a["details"]["break_glass_id"], a["details"]["reason_hash"])
            if json_output:
                render.emit_json([{**a, "reason": reasons.get(a["id"])} for a in found])
            elif found:
                render.out.print(_rows(found, reasons))
            elif not watch:
                render.out.print(_("No alerts."))
            if not watch:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    finally:
        if session is not None:
            session.__exit__(None, None, None)
        else:
            client.close()
