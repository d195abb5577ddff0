"""The audit report as one self-contained HTML page for a regulator: inline SVG charts, no scripts, no external files."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

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
    body = report["report"]
    names = {row["address"]: row["name"] for row in body["institutions"]}
    programme_names = {str(p["id"]): f"{p['name']} ({p['currency']})" for p in body["programmes"]}
    rng, totals = body["range"], body["totals"]
    count = len(body["violations"])
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>healthsilk ledger audit</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>healthsilk ledger audit</h1>",
        f"<p class=\"muted\">Chain {body['chain_id']}, blocks {rng['from_block']} to {rng['to_block']} "
        f"(end block time {escape(_time(rng['to_block_time']))}, hash <code>{escape(rng['to_block_hash'])}</code>). "
        f"{'Deep check: every payload re-read from IPFS.' if body['deep'] else 'Payloads in IPFS were not re-read (run with --deep for that).'}</p>",
        f"<div class=\"box {'ok' if count == 0 else 'bad'}\"><strong>{'Every rule held.' if count == 0 else f'{count} violation(s) found.'}</strong> "
        f"Report digest <code>{escape(report['digest'])}</code>: the same chain range always gives the same digest.</div>",
        "<h2>Rules checked</h2>",
        _table(["Rule", "What it means", "Result"], [
            [escape(r["id"]), escape(r["description"]), _result(r)] for r in body["rules"]
        ], raw=True),
        "<h2>Totals</h2>",
        _table(["Figure", "Value"], [[k.replace("_", " "), f"{v:,}"] for k, v in totals.items()], numeric={1}),
        "<h2>Accesses over time, per institution</h2>",
        _time_chart(body["series"].get("accesses", {}), names, "records read"),
        "<h2>Records anchored over time, per institution</h2>",
        _time_chart(body["series"].get("records", {}), names, "records anchored"),
        "<h2>Claims and payments per programme</h2>",
        _bar_chart("Claims submitted", [(programme_names.get(str(p["id"]), str(p["id"])), p["in_range"].get("claims_submitted", 0)) for p in body["programmes"]]),
        _bar_chart("Amount paid to providers and patients (minor units)", [(programme_names.get(str(p["id"]), str(p["id"])), p["in_range"].get("amount_paid", 0) + p["in_range"].get("cash_disbursed", 0)) for p in body["programmes"]]),
        _table(["Programme", "Payer", "Cards", "Funded", "Paid", "Cash", "Withdrawn", "Escrow at end"], [
            [p["name"] + f" ({p['currency']})", p["payer_name"] or p["payer"], p["cards"], p["funded"], p["paid"], p["disbursed"], p["withdrawn"], p["escrow_at_end"]]
            for p in body["programmes"]
        ], numeric={2, 3, 4, 5, 6, 7}),
        "<h2>Institutions</h2>",
        _table(["Institution", "Country", "Roles", "Status", "Records", "Reads", "Emergency reads", "Consents received", "Claims", "Paid"], [
            [f"{escape(r['name'])}<br><code>{escape(r['address'])}</code>", escape(r["country"]), escape(", ".join(r["roles"])), escape(r["status"]),
             r["records_anchored"] + r["batched_records"], r["records_read"], r["emergency_reads"], r["consents_received"], r["claims_submitted"], r["amount_paid"]]
            for r in body["institutions"]
        ], numeric={4, 5, 6, 7, 8, 9}, raw=True),
        "<h2>Countries</h2>",
        _table(["Country", "Institutions", "Records", "Reads", "Consents received", "Claims", "Paid"], [
            [c["country"], c["institutions"], c["records_anchored"] + c["batched_records"], c["records_read"], c["consents_received"], c["claims_submitted"], c["amount_paid"]]
            for c in body["countries"]
        ], numeric={1, 2, 3, 4, 5, 6}),
        *_flow_sections(body.get("flows", {})),
        "<h2>Violations</h2>",
        _table(["Block", "Transaction", "Rule", "What happened"], [
            [v["block"], f"<code>{escape(v['tx'] or 'end-block state')}</code>", escape(v["rule"]), escape(v["explanation"])] for v in body["violations"]
        ], raw=True) if body["violations"] else "<p class=\"ok\">None.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _flow_sections(flows: dict[str, Any]) -> list[str]:
    """Each care flow's section, rendered by its rule family (ledger.audit.flows), in the families' order."""
    from ledger.audit.flows import FAMILIES, load_families  # the families register themselves on import

    load_families()
    return [family.html(flows[family.name]) for family in FAMILIES if family.html is not None and family.name in flows]


def _result(rule: dict[str, Any]) -> str:
    if not rule["checked"]:
        return "<span class=\"muted\">not checked</span>"
    if rule["violations"]:
        return f"<span class=\"bad\">{rule['violations']} violation(s)</span>"
    return "<span class=\"ok\">held</span>"


def _time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None, raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (then the caller escaped them)."""
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            text = f"{cell:,}" if isinstance(cell, int) and not isinstance(cell, bool) else str(cell)
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
        return "<p class=\"muted\">Nothing in this range.</p>"
    buckets, data = _buckets(series)
    keys = sorted(data, key=lambda key: names.get(key, key))
    peak = max((value for per_key in data.values() for value in per_key.values()), default=1) or 1
    width, height, left, bottom = 1000, 260, 50, 40
    group = (width - left - 10) / max(1, len(buckets))
    bar = max(1.0, group * 0.8 / max(1, len(keys)))
    shapes = [f"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width}\" y2=\"{height - bottom}\" stroke=\"#999\"/>",
              f"<text x=\"{left - 6}\" y=\"16\" text-anchor=\"end\" font-size=\"11\">{peak:,}</text>",
              f"<text x=\"{left - 6}\" y=\"{height - bottom}\" text-anchor=\"end\" font-size=\"11\">0</text>"]
    label_every = max(1, len(buckets) // 12)
    for b_index, bucket in enumerate(buckets):
        x0 = left + b_index * group + group * 0.1
        for k_index, key in enumerate(keys):
            value = data[key].get(bucket, 0)
            if not value:
                continue
            h = (height - bottom - 10) * value / peak
            title = f"{names.get(key, key)}, {bucket}: {value:,} {unit}"
            shapes.append(f"<rect x=\"{x0 + k_index * bar:.1f}\" y=\"{height - bottom - h:.1f}\" width=\"{bar:.1f}\" height=\"{h:.1f}\" fill=\"{PALETTE[k_index % len(PALETTE)]}\"><title>{escape(title)}</title></rect>")
        if b_index % label_every == 0:
            shapes.append(f"<text x=\"{x0:.1f}\" y=\"{height - bottom + 15}\" font-size=\"11\">{escape(bucket)}</text>")
    legend = "".join(f"<span><i style=\"background:{PALETTE[i % len(PALETTE)]}\"></i>{escape(names.get(key, key))}</span>" for i, key in enumerate(keys))
    return f"<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{escape(unit)} over time\">{''.join(shapes)}</svg><div class=\"legend\">{legend}</div>"


def _bar_chart(title: str, rows: list[tuple[str, int]]) -> str:
    """Horizontal bars, one per row."""
    if not rows:
        return f"<p class=\"muted\">{escape(title)}: no programmes.</p>"
    peak = max(value for _label, value in rows) or 1
    row_h, left, width = 26, 320, 1000
    height = row_h * len(rows) + 30
    shapes = [f"<text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"600\">{escape(title)}</text>"]
    for index, (label, value) in enumerate(rows):
        y = 26 + index * row_h
        w = (width - left - 90) * value / peak
        shapes.append(f"<text x=\"{left - 8}\" y=\"{y + 15}\" text-anchor=\"end\" font-size=\"12\">{escape(label[:48])}</text>")
        shapes.append(f"<rect x=\"{left}\" y=\"{y + 3}\" width=\"{w:.1f}\" height=\"{row_h - 8}\" fill=\"{PALETTE[index % len(PALETTE)]}\"/>")
        shapes.append(f"<text x=\"{left + w + 6:.1f}\" y=\"{y + 15}\" font-size=\"12\">{value:,}</text>")
    return f"<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{escape(title)}\">{''.join(shapes)}</svg>"
