"""The PUBLIC_HEALTH member's picture: weekly series per disease and country with suppression marks, the members that
have not reported (or reported late), and the alerts; as a model and as one HTML page with inline SVG (no scripts).

Every member's latest report per week is read (fetched by CID, checked against its anchor, opened with this
institution's key when sealed). A country's weekly count sums the members' published totals: when some of them are
suppressed the count is a lower bound ("partial"); when all are, the count is withheld ("suppressed").
"""

from __future__ import annotations

import html
from collections.abc import Callable

from pydantic import BaseModel

from care.publichealth.diseases import by_code
from care.publichealth.suppression import ALL
from i18n import _
from i18n.formatting import number_text
from i18n.vocabulary import level_display, rule_display
from ledger.publichealth import (
    LEVELS,
    RULE_NAMES,
    AnchoredReport,
    week_range,
    week_start,
)
from ledger.registry import Member


class SeriesPoint(BaseModel):
    week: int
    count: int | None
    suppressed: bool = False  # every contributing total is suppressed: the count is withheld
    partial: bool = False  # some contributing totals are suppressed: the count is a lower bound


class Series(BaseModel):
    disease: str
    disease_name: str
    country: str
    points: list[SeriesPoint]


class MemberWeeks(BaseModel):
    member: str
    name: str
    country: str
    missing: list[int]
    late: list[int]


class AlertLine(BaseModel):
    alert_id: int
    disease: str
    place: str
    week: int
    level: str
    rule: str
    acknowledged_by: int


class Unreadable(BaseModel):
    report_id: int
    member: str
    reason: str


class Dashboard(BaseModel):
    first_week: int
    last_week: int
    k: int
    series: list[Series]
    members: list[MemberWeeks]
    alerts: list[AlertLine]
    unreadable: list[Unreadable]


WEEK = 7 * 86400
Reader = Callable[[AnchoredReport], tuple[str, int, int, dict]]  # PublicHealthService.read


def build_dashboard(first_week: int, last_week: int, k: int, reports: list[AnchoredReport], members: list[Member], read: Reader,
                    alerts: list[AlertLine]) -> Dashboard:
    weeks = week_range(first_week, last_week)
    wanted = set(weeks)
    latest: dict[tuple[str, int], AnchoredReport] = {}
    late: dict[str, set[int]] = {}
    for r in reports:  # chain order: a later report for the same member and week is its correction
        if r.week in wanted:
            latest[(r.member, r.week)] = r
            if r.late and not r.is_correction:
                late.setdefault(r.member, set()).add(r.week)
    sums: dict[tuple[str, str, int], list[int | None]] = {}
    unreadable: list[Unreadable] = []
    for (member, week), report in sorted(latest.items(), key=lambda item: item[1].report_id):
        try:
            _member, _week, _k, values = read(report)
        except (ValueError, OSError) as exc:
            unreadable.append(Unreadable(report_id=report.report_id, member=member, reason=str(exc)))
            continue
        for (disease, region, age, sex), value in values.items():
            if age == ALL and sex == ALL:
                sums.setdefault((disease, region[:2], week), []).append(value)
    series: list[Series] = []
    for disease, country in sorted({(d, c) for d, c, _w in sums}):
        points = []
        for week in weeks:
            parts = sums.get((disease, country, week), [])
            shown = [v for v in parts if v is not None]
            points.append(SeriesPoint(week=week, count=sum(shown) if shown or not parts else None,
                                      suppressed=bool(parts) and not shown, partial=bool(shown) and len(shown) < len(parts)))
        known = by_code(disease)
        series.append(Series(disease=disease, disease_name=known.name if known else disease, country=country, points=points))
    reporters = [m for m in members if m.active and "PROVIDER" in m.roles]
    lines = [
        MemberWeeks(member=m.address, name=m.name, country=m.country, late=sorted(late.get(m.address, set())),
                    # a member owes a week's report only for weeks that ended after it was admitted
                    missing=[w for w in weeks if (m.address, w) not in latest and week_start(w) + WEEK > m.admitted_at])
        for m in reporters
    ]
    return Dashboard(first_week=first_week, last_week=last_week, k=k, series=series, members=lines, alerts=alerts, unreadable=unreadable)


def alert_line(alert_id: int, disease: str, place: str, week: int, level: int, rule: int, acks: int) -> AlertLine:
    return AlertLine(alert_id=alert_id, disease=disease, place=place, week=week, level=LEVELS.get(level, str(level)),
                     rule=RULE_NAMES.get(rule, str(rule)), acknowledged_by=acks)


# ---------------------------------------------------------------------------------------------- HTML

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:.85em}.sup{fill:#bbb}.bar{fill:#2a6f97}
.part{fill:#7fb3d5}.crit{color:#b00020;font-weight:bold}"""


def render_html(d: Dashboard) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
        f"<title>{e(_('Public-health dashboard'))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(_('Public-health dashboard, weeks {first} to {last}').format(first=d.first_week, last=d.last_week))}</h1>",
        f"<p>{e(_('Counts from 1 to {below} are suppressed (k = {k}); grey marks a suppressed count, light blue a lower bound.').format(below=d.k - 1, k=d.k))}</p>",
    ]
    if d.alerts:
        parts.append(f"<h2>{e(_('Alerts'))}</h2><table><tr><th>#</th><th>{e(_('Disease'))}</th><th>{e(_('Place'))}</th><th>{e(_('Week'))}</th>"
                     f"<th>{e(_('Level'))}</th><th>{e(_('Rule'))}</th><th>{e(_('Acknowledged by'))}</th></tr>")
        for a in d.alerts:
            cls = ' class="crit"' if a.level == "critical" else ""
            parts.append(f"<tr{cls}><td>{a.alert_id}</td><td>{e(a.disease)}</td><td>{e(a.place)}</td><td>{a.week}</td><td>{e(level_display(a.level))}</td>"
                         f"<td title=\"{e(a.rule)}\">{e(rule_display(a.rule))}</td><td>{a.acknowledged_by}</td></tr>")
        parts.append("</table>")
    for s in d.series:
        parts.append(f"<h2>{e(s.disease_name)} ({e(s.disease)}), {e(s.country)}</h2>")
        parts.append(_chart(s))
        parts.append(_table(s))
    parts.append(f"<h2>{e(_('Reporting members'))}</h2><table><tr><th>{e(_('Member'))}</th><th>{e(_('Country'))}</th>"
                 f"<th>{e(_('Weeks not reported'))}</th><th>{e(_('Late weeks'))}</th></tr>")
    for m in d.members:
        parts.append(f"<tr><td>{e(m.name)}</td><td>{e(m.country)}</td><td>{e(_weeks(m.missing))}</td><td>{e(_weeks(m.late))}</td></tr>")
    parts.append("</table>")
    if d.unreadable:
        parts.append(f"<h2>{e(_('Reports that could not be read'))}</h2><ul>")
        parts += [f"<li>{u.report_id} ({e(u.member)}): {e(u.reason)}</li>" for u in d.unreadable]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def _weeks(weeks: list[int]) -> str:
    if not weeks:
        return _("none")
    return ", ".join(str(w) for w in weeks[:12]) + (" …" if len(weeks) > 12 else "")


def _chart(s: Series) -> str:
    width, height, pad = max(240, 14 * len(s.points) + 40), 120, 20
    top = max([p.count or 0 for p in s.points] + [1])
    bars = []
    step = (width - 2 * pad) / max(1, len(s.points))
    for i, p in enumerate(s.points):
        x = pad + i * step
        label = html.escape(f"{p.week}: " + (_("suppressed") if p.suppressed else (f"≥{number_text(p.count or 0)}" if p.partial else number_text(p.count or 0))))
        if p.suppressed:
            bars.append(f'<rect class="sup" x="{x:.1f}" y="{height - pad - 8}" width="{step * 0.8:.1f}" height="8"><title>{label}</title></rect>')
            continue
        h = (height - 2 * pad) * (p.count or 0) / top
        cls = "part" if p.partial else "bar"
        bars.append(f'<rect class="{cls}" x="{x:.1f}" y="{height - pad - h:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}"><title>{label}</title></rect>')
    axis = f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#444"/>'
    caption = f'<text x="{pad}" y="12" font-size="10">{html.escape(_("max {count}").format(count=number_text(top)))}</text>'
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">{axis}{caption}{"".join(bars)}</svg>'


def _table(s: Series) -> str:
    cells = []
    for p in s.points:
        shown = "&lt;k" if p.suppressed else html.escape(f"≥{number_text(p.count or 0)}" if p.partial else number_text(p.count or 0))
        cells.append(f"<td>{p.week % 100}<br>{shown}</td>")
    return "<table><tr>" + "".join(cells) + "</tr></table>"
