"""The audit report as one self-contained HTML page for a regulator: inline SVG charts, no scripts, no external files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from i18n import N_, _, content_language, ngettext
from i18n.audit_rules import rule_text
from i18n.formatting import (
    datetime_text,
    minor_units_to_amount,
    money_text,
    number_text,
)
from i18n.vocabulary import joined, role_display

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#666}.box{border:2px solid;padding:.6rem 1rem;border-radius:6px;margin:1rem 0}.box.ok{border-color:#1a7f37}.box.bad{border-color:#b42318}
code{font-size:.85rem;word-break:break-all}svg{max-width:100%;height:auto}.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
"""


def render_html(report: dict[str, Any]) -> str:
    """The report in the current language (`healthsilk --lang fr audit replay --html ...`); rule ids, codes, names,
    addresses and the digest stay as they are, money is shown in each programme's currency units."""
    body = report["report"]
    names = {row["address"]: row["name"] for row in body["institutions"]}
    programme_names = {str(p["id"]): f"{p['name']} ({p['currency']})" for p in body["programmes"]}
    rng, totals = body["range"], body["totals"]
    count = len(body["violations"])
    currencies = sorted({str(p["currency"]) for p in body["programmes"]})
    money = _money_in(currencies)
    deep = _("Deep check: every payload re-read from IPFS.") if body["deep"] else _("Payloads in IPFS were not re-read (run with --deep for that).")
    verdict = _("Every rule held.") if count == 0 else ngettext("{count} violation found.", "{count} violations found.", count).format(count=number_text(count))
    parts = [
        f"<!DOCTYPE html><html lang=\"{content_language()}\"><head><meta charset=\"utf-8\"><title>{escape(_('healthsilk ledger audit'))}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(_('healthsilk ledger audit'))}</h1>",
        "<p class=\"muted\">" + escape(_("Chain {chain}, blocks {first} to {last} (end block time {time}, hash {hash}).").format(
            chain=body["chain_id"], first=rng["from_block"], last=rng["to_block"], time=_time(rng["to_block_time"]), hash="\0")).replace(
            "\0", f"<code>{escape(rng['to_block_hash'])}</code>") + f" {escape(deep)}</p>",
        f"<div class=\"box {'ok' if count == 0 else 'bad'}\"><strong>{escape(verdict)}</strong> "
        + escape(_("Report digest {digest}: the same chain range always gives the same digest.").format(digest="\0")).replace("\0", f"<code>{escape(report['digest'])}</code>")
        + "</div>",
        f"<h2>{escape(_('Rules checked'))}</h2>",
        _table([_("Rule"), _("What it means"), _("Result")], [
            [escape(r["id"]), escape(rule_text(r["id"], r["description"])), _result(r)] for r in body["rules"]
        ], raw=True),
        f"<h2>{escape(_('Totals'))}</h2>",
        _table([_("Figure"), _("Value")], [[_total_name(k), money(v) if k in MONEY_TOTALS else number_text(v)] for k, v in totals.items()], numeric={1}),
        f"<h2>{escape(_('Accesses over time, per institution'))}</h2>",
        _time_chart(body["series"].get("accesses", {}), names, _("records read")),
        f"<h2>{escape(_('Records anchored over time, per institution'))}</h2>",
        _time_chart(body["series"].get("records", {}), names, _("records anchored")),
        f"<h2>{escape(_('Claims and payments per programme'))}</h2>",
        _bar_chart(_("Claims submitted"), [(programme_names.get(str(p["id"]), str(p["id"])), p["in_range"].get("claims_submitted", 0)) for p in body["programmes"]]),
        _bar_chart(_("Amount paid to providers and patients"), [
            (programme_names.get(str(p["id"]), str(p["id"])), p["in_range"].get("amount_paid", 0) + p["in_range"].get("cash_disbursed", 0), str(p["currency"]))
            for p in body["programmes"]]),
        _table([_("Programme"), _("Payer"), _("Cards"), _("Funded"), _("Paid"), _("Cash"), _("Withdrawn"), _("Escrow at end")], [
            [p["name"] + f" ({p['currency']})", p["payer_name"] or p["payer"], number_text(p["cards"])]
            + [money_text(int(p[key]), str(p["currency"])) for key in ("funded", "paid", "disbursed", "withdrawn", "escrow_at_end")]
            for p in body["programmes"]
        ], numeric={2, 3, 4, 5, 6, 7}),
        f"<h2>{escape(_('Institutions'))}</h2>",
        _table([_("Institution"), _("Country"), _("Roles"), _("Status"), _("Records"), _("Reads"), _("Emergency reads"), _("Consents received"), _("Claims"), _("Paid")], [
            [f"{escape(r['name'])}<br><code>{escape(r['address'])}</code>", escape(r["country"]), escape(joined(role_display(r["roles"]))), escape(_status(r["status"])),
             number_text(r["records_anchored"] + r["batched_records"]), number_text(r["records_read"]), number_text(r["emergency_reads"]),
             number_text(r["consents_received"]), number_text(r["claims_submitted"]), escape(money(r["amount_paid"]))]
            for r in body["institutions"]
        ], numeric={4, 5, 6, 7, 8, 9}, raw=True),
        f"<h2>{escape(_('Countries'))}</h2>",
        _table([_("Country"), _("Institutions"), _("Records"), _("Reads"), _("Consents received"), _("Claims"), _("Paid")], [
            [c["country"], number_text(c["institutions"]), number_text(c["records_anchored"] + c["batched_records"]), number_text(c["records_read"]),
             number_text(c["consents_received"]), number_text(c["claims_submitted"]), money(c["amount_paid"])]
            for c in body["countries"]
        ], numeric={1, 2, 3, 4, 5, 6}),
        *_flow_sections(body.get("flows", {})),
        f"<h2>{escape(_('Violations'))}</h2>",
        _table([_("Block"), _("Transaction"), _("Rule"), _("What happened")], [
            [v["block"], f"<code>{escape(v['tx'] or _('end-block state'))}</code>", escape(v["rule"]), escape(v["explanation"])] for v in body["violations"]
        ], raw=True) if body["violations"] else f"<p class=\"ok\">{escape(_('None.'))}</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


# Totals that are money (minor units of the programmes' currency in the JSON report).
MONEY_TOTALS = frozenset({"amount_paid", "escrow_funded", "cash_disbursed", "amount_withdrawn", "escrow_withdrawn"})
# The JSON report's total keys -> what a regulator reads (a key without an entry is shown with spaces).
TOTAL_NAMES = {
    "events": N_("events"), "blocks": N_("blocks"), "members": N_("members"), "institutions": N_("institutions"), "records_anchored": N_("records anchored"),
    "batched_records": N_("records anchored in batches"), "records_read": N_("records read"), "access_events": N_("logged reads"),
    "emergency_reads": N_("emergency reads"), "consents_granted": N_("consents granted"), "consents_revoked": N_("consents revoked"),
    "revocations": N_("revocations"), "erasures": N_("erasures"), "claims_submitted": N_("claims submitted"), "claims_paid": N_("claims paid"),
    "claims_rejected": N_("claims rejected"), "amount_paid": N_("amount paid"), "programmes": N_("programmes"), "cards": N_("cards"),
    "escrow_funded": N_("escrow funded"), "cash_disbursed": N_("cash disbursed"), "violations": N_("violations"), "delegations": N_("delegations"),
    "patients": N_("patients"), "patients_registered": N_("patients registered"), "proposals": N_("proposals"),
}
STATUS_NAMES = {"ACTIVE": N_("active"), "SUSPENDED": N_("suspended"), "REMOVED": N_("removed")}


def _total_name(key: str) -> str:
    return _(TOTAL_NAMES[key]) if key in TOTAL_NAMES else key.replace("_", " ")


def _status(status: str) -> str:
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status.lower()


def _money_in(currencies: list[str]) -> Callable[[int], str]:
    """Sums across programmes are money only when the programmes share one currency; otherwise the minor units are
    said to be mixed, never shown as if they were one amount."""
    if len(currencies) == 1:
        return lambda minor: money_text(int(minor), currencies[0])
    if not currencies:
        return lambda minor: number_text(int(minor))
    return lambda minor: _("{amount} (minor units, several currencies: see the programmes)").format(amount=number_text(int(minor)))


def _flow_sections(flows: dict[str, Any]) -> list[str]:
    """Each care flow's section, rendered by its rule family (ledger.audit.flows), in the families' order."""
    from ledger.audit.flows import (  # the families register themselves on import
        FAMILIES,
        load_families,
    )

    load_families()
    return [family.html(flows[family.name]) for family in FAMILIES if family.html is not None and family.name in flows]


def _result(rule: dict[str, Any]) -> str:
    if not rule["checked"]:
        return f"<span class=\"muted\">{escape(_('not checked'))}</span>"
    if rule["violations"]:
        count = int(rule["violations"])
        return f"<span class=\"bad\">{escape(ngettext('{count} violation', '{count} violations', count).format(count=number_text(count)))}</span>"
    return f"<span class=\"ok\">{escape(_('held'))}</span>"


def _time(timestamp: int) -> str:
    return datetime_text(timestamp)


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None, raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (then the caller escaped them)."""
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            text = number_text(cell) if isinstance(cell, int) and not isinstance(cell, bool) else str(cell)
            text = text if raw else escape(text)
            cells.append(f"<td class=\"n\">{text}</td>" if index in numeric else f"<td>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _buckets(series: dict[str, dict[str, int]]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Hourly buckets, merged into days when the range spans more than two days."""
    hours = sorted({hour for per_key in series.values() for hour in per_key})
    if len(hours) > 1 and _hours_between(hours[0], hours[-1]) > 48:
        merged = {key: _merge_days(per_key) for key, per_key in series.items()}
        return sorted({day for per_key in merged.values() for day in per_key}), merged
    return hours, series


def _hours_between(first: str, last: str) -> float:
    parse = lambda text: datetime.strptime(text, "%Y-%m-%dT%H")  # noqa: E731
    return (parse(last) - parse(first)).total_seconds() / 3600


def _merge_days(per_hour: dict[str, int]) -> dict[str, int]:
    days: dict[str, int] = {}
    for hour, value in per_hour.items():
        days[hour[:10]] = days.get(hour[:10], 0) + value
    return days


def _time_chart(series: dict[str, dict[str, int]], names: dict[str, str], unit: str) -> str:
    """Grouped bars: one group per time bucket, one bar per institution."""
    if not series:
        return f"<p class=\"muted\">{escape(_('Nothing in this range.'))}</p>"
    buckets, data = _buckets(series)
    keys = sorted(data, key=lambda key: names.get(key, key))
    peak = max((value for per_key in data.values() for value in per_key.values()), default=1) or 1
    width, height, left, bottom = 1000, 260, 50, 40
    group = (width - left - 10) / max(1, len(buckets))
    bar = max(1.0, group * 0.8 / max(1, len(keys)))
    shapes = [f"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width}\" y2=\"{height - bottom}\" stroke=\"#999\"/>",
              f"<text x=\"{left - 6}\" y=\"16\" text-anchor=\"end\" font-size=\"11\">{number_text(peak)}</text>",
              f"<text x=\"{left - 6}\" y=\"{height - bottom}\" text-anchor=\"end\" font-size=\"11\">0</text>"]
    label_every = max(1, len(buckets) // 12)
    for b_index, bucket in enumerate(buckets):
        x0 = left + b_index * group + group * 0.1
        for k_index, key in enumerate(keys):
            value = data[key].get(bucket, 0)
            if not value:
                continue
            h = (height - bottom - 10) * value / peak
            title = _("{institution}, {period}: {count} {unit}").format(institution=names.get(key, key), period=bucket, count=number_text(value), unit=unit)
            shapes.append(f"<rect x=\"{x0 + k_index * bar:.1f}\" y=\"{height - bottom - h:.1f}\" width=\"{bar:.1f}\" height=\"{h:.1f}\" fill=\"{PALETTE[k_index % len(PALETTE)]}\"><title>{escape(title)}</title></rect>")
        if b_index % label_every == 0:
            shapes.append(f"<text x=\"{x0:.1f}\" y=\"{height - bottom + 15}\" font-size=\"11\">{escape(bucket)}</text>")
    legend = "".join(f"<span><i style=\"background:{PALETTE[i % len(PALETTE)]}\"></i>{escape(names.get(key, key))}</span>" for i, key in enumerate(keys))
    return f"<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{escape(_('{unit} over time').format(unit=unit))}\">{''.join(shapes)}</svg><div class=\"legend\">{legend}</div>"


def _bar_chart(title: str, rows: list[tuple[str, int]] | list[tuple[str, int, str]]) -> str:
    """Horizontal bars, one per row; a row with a currency is money (minor units), drawn and labelled in currency units."""
    if not rows:
        return f"<p class=\"muted\">{escape(_('{title}: no programmes.').format(title=title))}</p>"
    amounts = [(row[0], float(minor_units_to_amount(row[1], row[2])) if len(row) > 2 else row[1],
                money_text(row[1], row[2]) if len(row) > 2 else number_text(row[1])) for row in rows]  # type: ignore[misc]
    peak = max(value for _label, value, _text in amounts) or 1
    row_h, left, width = 26, 320, 1000
    height = row_h * len(rows) + 30
    shapes = [f"<text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"600\">{escape(title)}</text>"]
    for index, (label, value, shown) in enumerate(amounts):
        y = 26 + index * row_h
        w = (width - left - 90) * value / peak
        shapes.append(f"<text x=\"{left - 8}\" y=\"{y + 15}\" text-anchor=\"end\" font-size=\"12\">{escape(label[:48])}</text>")
        shapes.append(f"<rect x=\"{left}\" y=\"{y + 3}\" width=\"{w:.1f}\" height=\"{row_h - 8}\" fill=\"{PALETTE[index % len(PALETTE)]}\"/>")
        shapes.append(f"<text x=\"{left + w + 6:.1f}\" y=\"{y + 15}\" font-size=\"12\">{escape(shown)}</text>")
    return f"<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{escape(title)}\">{''.join(shapes)}</svg>"
