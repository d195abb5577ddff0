"""`healthsilk publichealth ...`: weekly public-health reports, the surveillance dashboard, outbreak alerts.

Institution staff with an API token: `report WEEK` anchors the institution's weekly report (built by its API from
its own records; `--preview` shows it without anchoring; `--correction` corrects the week's latest);
`dashboard --html FILE` writes the PUBLIC_HEALTH member's dashboard; `alert raise|ack|list` handles alerts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from i18n import _
from i18n.vocabulary import level_display, rule_display
from wallet import render
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import WalletError
from wallet.options import ApiOpt, JsonOpt, friendly

TOKEN_ENV = "HEALTHSILK_API_TOKEN"
TokenOpt = Annotated[str | None, typer.Option("--token", help=f"Institution API token (scopes read/write). Default: ${TOKEN_ENV}.", show_default=False)]
WeekOpt = Annotated[int | None, typer.Option(help="ISO week as year * 100 + week, e.g. 202650.", show_default=False, min=200001, max=999953)]

app = typer.Typer(help="Public-health reporting: weekly de-identified counts, the surveillance dashboard, outbreak alerts.", no_args_is_help=True)
alert_app = typer.Typer(help="Outbreak alerts: raise one by hand (PUBLIC_HEALTH), acknowledge, list.", no_args_is_help=True)
app.add_typer(alert_app, name="alert")


def _staff(api: str | None, token: str | None) -> ApiClient:
    value = (token or os.environ.get(TOKEN_ENV, "")).strip()
    if not value:
        raise WalletError(_("This command is for institution staff and needs an API token."), _("Pass --token hs_... or set {variable}.").format(variable=TOKEN_ENV))
    client = ApiClient(resolve_api_url(api))
    client._http.headers["Authorization"] = f"Bearer {value}"
    return client


@app.command()
@friendly
def report(
    week: Annotated[int, typer.Argument(help="ISO week as year * 100 + week, e.g. 202650.", min=200001, max=999953)],
    correction: Annotated[bool, typer.Option("--correction", help="Correct this institution's latest report for the week.")] = False,
    preview: Annotated[bool, typer.Option("--preview", help="Show the report as it would be anchored; anchor nothing.")] = False,
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Build this institution's weekly report from its own records, suppress small cells, seal and anchor it."""
    with _staff(api, token) as client:
        if preview:
            answer = client.request_json("GET", f"/v1/publichealth/reports/{week}/preview", params={"correction": True} if correction else {})
        else:
            answer = client.request_json("POST", "/v1/publichealth/reports", json={"week": week, "correction": correction})
    if json_output:
        render.emit_json(answer)
        return
    if preview:
        groups = answer["measure_report"].get("group", [])
        render.out.print(_("Week {week}, region {region}: {groups} disease group(s), {suppressed} suppressed count(s) (k = {k}); nothing was anchored.").format(
            week=week, region=answer["region"], groups=len(groups), suppressed=answer["suppressed_cells"], k=answer["k"]))
        for group in groups:
            coding = group["code"]["coding"][0]
            total = group["population"][0].get("count")
            render.out.print("  " + _("{disease}: {total}").format(disease=escape(coding.get("display", coding["code"])), total=_("suppressed") if total is None else total))
        return
    kind = _("correction") if answer["is_correction"] else _("report")
    render.out.print(_("Week {week}: {kind} {report} anchored in block {block} ({mode}, k = {k}); CID {cid}.").format(
        week=answer["week"], kind=kind, report=answer["report_id"], block=answer["block_number"],
        mode=_("sealed to the PUBLIC_HEALTH members") if answer["encrypted"] else _("published in clear"), k=answer["k"], cid=answer["cid"]))
    if answer.get("alerts"):
        render.out.print(_("Alerts raised by rule: {alerts}").format(alerts=", ".join(f"publichealth:{a}" for a in answer["alerts"])))


@app.command()
@friendly
def dashboard(
    first_week: Annotated[int | None, typer.Option("--from", help="First ISO week (default: 8 weeks to --to).", show_default=False, min=200001, max=999953)] = None,
    last_week: Annotated[int | None, typer.Option("--to", help="Last ISO week (default: this week).", show_default=False, min=200001, max=999953)] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the dashboard as one HTML page (inline SVG charts, no scripts).", show_default=False)] = None,
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """The surveillance dashboard (PUBLIC_HEALTH members): weekly series per disease and country, members not reported."""
    params: dict[str, Any] = {k: v for k, v in (("first_week", first_week), ("last_week", last_week)) if v is not None}
    with _staff(api, token) as client:
        if html is not None:
            page = client._send("GET", "/v1/publichealth/dashboard", params=params | {"format": "html"}).text
            html.write_text(page, encoding="utf-8")
            render.out.print(_("Dashboard written to {path}").format(path=str(html)))
            return
        board = client.request_json("GET", "/v1/publichealth/dashboard", params=params)
    if json_output:
        render.emit_json(board)
        return
    table = Table(title=_("Weeks {first} to {last} (k = {k})").format(first=board["first_week"], last=board["last_week"], k=board["k"]), title_justify="left")
    table.add_column(_("disease"))
    table.add_column(_("country"))
    table.add_column(_("weekly counts (oldest first; <k = suppressed, >= = lower bound)"), overflow="fold")
    for s in board["series"]:
        counts = ["<k" if p["suppressed"] else (f">={p['count']}" if p["partial"] else str(p["count"])) for p in s["points"]]
        table.add_row(escape(s["disease_name"]), s["country"], " ".join(counts))
    render.out.print(table)
    for m in board["members"]:
        if m["missing"]:
            render.out.print(_("{name} ({country}) has not reported weeks {weeks}").format(name=escape(m["name"]), country=m["country"], weeks=", ".join(map(str, m["missing"]))))


@alert_app.command("raise")
@friendly
def raise_alert(
    disease: Annotated[str, typer.Option(help="ICD-10 code, e.g. A00 (cholera).")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2, e.g. BJ.")],
    week: Annotated[int, typer.Option(help="ISO week as year * 100 + week.", min=200001, max=999953)],
    level: Annotated[int, typer.Option(help="1 info, 2 warning, 3 critical.", min=1, max=3)] = 2,
    division: Annotated[str, typer.Option(help="ISO 3166-2 subdivision suffix, e.g. MO.")] = "",
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Raise an outbreak alert by hand (PUBLIC_HEALTH members)."""
    body = {"disease": disease.upper(), "country": country.upper(), "division": division.upper(), "week": week, "level": level}
    with _staff(api, token) as client:
        answer = client.request_json("POST", "/v1/publichealth/alerts", json=body)
    if json_output:
        render.emit_json(answer)
    else:
        render.out.print(_("Alert publichealth:{id} raised: {disease} in {place}, week {week}, level {level}.").format(
            id=answer["alert_id"], disease=answer["disease"], place=answer["country"] + (f"-{answer['division']}" if answer["division"] else ""), week=answer["week"], level=answer["level"]))


@alert_app.command("ack")
@friendly
def acknowledge(alert_id: Annotated[str, typer.Argument(help="publichealth:<number>")], api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """Acknowledge an outbreak alert on chain, as this institution."""
    with _staff(api, token) as client:
        answer = client.request_json("POST", f"/v1/publichealth/alerts/{alert_id}/acknowledge")
    if json_output:
        render.emit_json(answer)
    else:
        render.out.print(_("Alert {id} acknowledged (transaction {tx}).").format(id=answer["alert_id"], tx=answer["transaction_hash"]))


@alert_app.command("list")
@friendly
def list_alerts(api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """Outbreak alerts, oldest first (every flow's alerts: healthsilk alerts)."""
    with _staff(api, token) as client:
        alerts = client.request_json("GET", "/v1/publichealth/alerts")
    if json_output:
        render.emit_json(alerts)
        return
    table = Table(title=_("Outbreak alerts"), title_justify="left")
    for column in (_("id"), _("disease"), _("place"), _("week"), _("level"), _("rule"), _("acknowledged by")):
        table.add_column(column)
    for a in alerts:
        d = a["details"]
        table.add_row(a["id"], escape(d["disease_name"]), a["subject"], str(d["week"]), level_display(a["level"]), rule_display(d["rule"]), str(len(a["acknowledged_by"])))
    render.out.print(table)
