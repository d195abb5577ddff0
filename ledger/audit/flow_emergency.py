"""The break-glass rule family (issue 13): replays BreakGlass's events and judges them by the chain's own record.

Rules: a break-glass is opened by an active EMERGENCY member; every read under it is its reader's, inside its time
window and categories, of its patient's records; each is reviewed within 72 h by the patient, the delegate or a
PRIVACY_OFFICER member (not the reader), once. The report gives per institution the number of break-glasses, the
share reviewed and the share judged unjustified, and a ready suspension proposal (for governors to decide, never
automatic) for a member with repeated unjustified break-glass.
"""

from __future__ import annotations

import html
from typing import Any

from i18n import _
from ledger.audit.fetch import ChainEvent
from ledger.audit.flows import FlowContext, FlowFamily, FlowState, register
from ledger.audit.state import EMERGENCY, PRIVACY_OFFICER, AuditState, hx

REVIEW_PERIOD = 72 * 3600
REPEATED_UNJUSTIFIED = 2  # from this many unjustified break-glasses on, governors get a suspension proposal

RULES = {
    "break-glass-role": "Every break-glass was opened by an active member holding the EMERGENCY role.",
    "break-glass-read": "Every read under a break-glass was by its reader, before it expired, of its patient's records in its categories.",
    "break-glass-review": "Every break-glass was reviewed once, within 72 hours, by its patient, the delegate or a PRIVACY_OFFICER member other than its reader.",
}


def _check(ctx: FlowContext, ev: ChainEvent) -> None:
    a = ev.args
    flows = ctx.flow.setdefault("open", {})
    if ev.name == "BreakGlassOpened":
        m = ctx.state.member(a["reader"])
        if m is None or m.status != 1 or not m.has_active_role(EMERGENCY):
            ctx.flag("break-glass-role", f"break-glass {hx(a['id'])} on {a['patient']} was opened by {a['reader']}, not an active EMERGENCY member", hx(a["id"]))
    elif ev.name == "CareRecordsAccessed":
        ref = hx(a["ref"])
        bg = flows.get(ref)
        what = f"read of {len(a['recordIds'])} record(s) under break-glass {ref} by {a['reader']}"
        if bg is None:
            ctx.flag("break-glass-read", f"{what}: no such break-glass", ref)
            return
        if a["reader"] != bg["reader"]:
            ctx.flag("break-glass-read", f"{what}: the break-glass is {bg['reader']}'s", ref)
        if not bg["opened_at"] <= ev.timestamp < bg["expires_at"]:
            ctx.flag("break-glass-read", f"{what}: outside its window (it expired at {bg['expires_at']}, read at {ev.timestamp})", ref)
        for rid in (hx(r) for r in a["recordIds"]):
            record = ctx.state.records.get(rid)
            if record is None:
                continue
            if record.patient != bg["patient"] or not (bg["categories"] >> record.category) & 1:
                ctx.flag("break-glass-read", f"{what}: record {rid} is outside its patient or categories", rid)
    elif ev.name == "BreakGlassReviewed":
        ref = hx(a["id"])
        bg = flows.get(ref)
        if bg is None:
            ctx.flag("break-glass-review", f"review of unknown break-glass {ref}", ref)
            return
        if bg["review"]:
            ctx.flag("break-glass-review", f"break-glass {ref} was reviewed a second time by {a['reviewer']}", ref)
        reviewer = a["reviewer"]
        officer = ctx.state.member(reviewer)
        allowed = reviewer == bg["patient"] or reviewer == ctx.state.delegate_of(bg["patient"]) or (
            reviewer != bg["reader"] and officer is not None and officer.status == 1 and officer.has_active_role(PRIVACY_OFFICER))
        if not allowed:
            ctx.flag("break-glass-review", f"break-glass {ref} was reviewed by {reviewer}, who may not review it", ref)
        if ev.timestamp > bg["opened_at"] + REVIEW_PERIOD:
            ctx.flag("break-glass-review", f"break-glass {ref} was reviewed late, at {ev.timestamp} (due {bg['opened_at'] + REVIEW_PERIOD})", ref)


def _apply(flow: FlowState, ev: ChainEvent) -> None:
    a = ev.args
    table = flow.setdefault("open", {})
    if ev.name == "BreakGlassOpened":
        table[hx(a["id"])] = {"patient": a["patient"], "reader": a["reader"], "categories": int(a["categories"]), "opened_at": int(a["openedAt"]),
                              "expires_at": int(a["expiresAt"]), "reason_code": int(a["reasonCode"]), "review": "", "reads": 0, "overdue_flagged": False}
    elif ev.name == "CareRecordsAccessed" and hx(a["ref"]) in table:
        table[hx(a["ref"])]["reads"] += len(a["recordIds"])
    elif ev.name == "BreakGlassReviewed" and hx(a["id"]) in table:
        bg = table[hx(a["id"])]
        if not bg["review"]:
            bg["review"] = "justified" if a["justified"] else "unjustified"
            bg["reviewer"] = a["reviewer"]


def _finish(ctx: FlowContext, end_time: int) -> None:
    for ref, bg in ctx.flow.get("open", {}).items():
        if not bg["review"] and end_time > bg["opened_at"] + REVIEW_PERIOD:
            ctx.flag("break-glass-review", f"break-glass {ref} by {bg['reader']} on {bg['patient']} is unreviewed past its deadline ({bg['opened_at'] + REVIEW_PERIOD})", ref)


def _report(flow: FlowState, state: AuditState) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for bg in flow.get("open", {}).values():
        row = per.setdefault(bg["reader"], {"break_glasses": 0, "reviewed": 0, "unjustified": 0, "records_read": 0})
        row["break_glasses"] += 1
        row["reviewed"] += 1 if bg["review"] else 0
        row["unjustified"] += 1 if bg["review"] == "unjustified" else 0
        row["records_read"] += bg["reads"]
    institutions = []
    proposals = []
    for reader, row in sorted(per.items()):
        m = state.member(reader)
        name = m.name if m else reader
        institutions.append({
            "address": reader, "name": name, **row,
            "share_reviewed": round(row["reviewed"] / row["break_glasses"], 4), "share_unjustified": round(row["unjustified"] / row["break_glasses"], 4),
        })
        if row["unjustified"] >= REPEATED_UNJUSTIFIED:
            proposals.append({"member": reader, "name": name, "proposal": _(
                "Suspend {name} ({address}): {count} of its {total} break-glass accesses to patients' records were judged unjustified on "
                "review. Proposed for the governors' vote under the consortium's rules; the member keeps its rights until the vote passes."
            ).format(name=name, address=reader, count=row["unjustified"], total=row["break_glasses"])})
    total = len(flow.get("open", {}))
    return {"break_glasses": total, "reviewed": sum(r["reviewed"] for r in per.values()), "institutions": institutions, "suspension_proposals": proposals}


def _html(section: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{r['break_glasses']}</td><td>{r['share_reviewed']:.0%}</td><td>{r['share_unjustified']:.0%}</td></tr>"
        for r in section.get("institutions", []))
    proposals = "".join(f"<li>{html.escape(p['proposal'])}</li>" for p in section.get("suspension_proposals", []))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("institution"), _("break-glasses"), _("reviewed"), _("unjustified")))
    return (f"<h2>{html.escape(_('Emergency access (break-glass)'))}</h2><table><tr>{head}</tr>{rows}</table>"
            + (f"<h3>{html.escape(_('Suspension proposals for the governors'))}</h3><ul>{proposals}</ul>" if proposals else ""))


FAMILY = register(FlowFamily(name="emergency", contract="BreakGlass", rules=RULES, check=_check, apply=_apply, report=_report, finish=_finish, html=_html))
