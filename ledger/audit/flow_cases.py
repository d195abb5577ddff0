"""The referral cases rule family (issue 12): replays ReferralCases's events and judges them by the chain's own record.

Rules: a case is opened by an active member for a ServiceRequest it anchored, with its patient's own records and
active member consultants; it is approved or refused by its patient or the patient's delegate; every read under a
case is inside it (approved, before its closing and its consent's end, an accepting consultant reading the attached
records, its own answers or what the requester shared with it; the requester reading answers and its notes); every
answer is by a consultant that accepted, of the case's patient, written for the case. The report gives turnaround
figures per case and per country pair: time to accept, time to answer, overdue cases.
"""

from __future__ import annotations

import html
import statistics
from typing import Any

from i18n import _
from ledger.audit.fetch import ChainEvent
from ledger.audit.flows import FlowContext, FlowFamily, FlowState, register
from ledger.audit.state import AuditState, hx
from ledger.cases import consultants_of

REFERRAL = 10  # Category.REFERRAL
PRIORITIES = ("ROUTINE", "URGENT", "STAT")

RULES = {
    "case-open": "Every referral case was opened by an active member for a REFERRAL request it anchored, with its patient's own records and active member consultants.",
    "case-approval": "Every case was approved or refused by its patient or the patient's delegate, while it was open.",
    "case-read": "Every read under a case was inside it: approved, not closed, before its consent's end, by an accepting consultant (attached records, its own or shared answers) or by the requester (answers).",
    "case-answer": "Every answer belongs to a live case that its author accepted, and is a record of the case's patient written by that consultant after the opening.",
}


def _cases(ctx_or_flow: Any) -> dict[str, dict[str, Any]]:
    flow = ctx_or_flow.flow if isinstance(ctx_or_flow, FlowContext) else ctx_or_flow
    return flow.setdefault("cases", {})  # type: ignore[no-any-return]


def _check(ctx: FlowContext, ev: ChainEvent) -> None:
    a = ev.args
    cases = _cases(ctx)
    if ev.name == "CaseOpened":
        _check_opening(ctx, ev)
        return
    ref = hx(a["ref"] if ev.name == "CareRecordsAccessed" else a["caseId"])
    case = cases.get(ref)
    if case is None:
        rule = {"CareRecordsAccessed": "case-read", "CaseAnswered": "case-answer"}.get(ev.name, "case-approval")
        ctx.flag(rule, f"{ev.name} for unknown case {ref}", ref)
        return
    if ev.name in ("CaseApproved", "CaseRefused"):
        signer = a["signer"]
        if signer != case["patient"] and signer != ctx.state.delegate_of(case["patient"]):
            ctx.flag("case-approval", f"case {ref} was {ev.name[4:].lower()} by {signer}, neither its patient nor the delegate", ref)
        if case["state"] not in ("OPEN", "APPROVED") or (ev.name == "CaseApproved" and case["state"] != "OPEN"):
            ctx.flag("case-approval", f"case {ref} was {ev.name[4:].lower()} while {case['state'].lower()}", ref)
    elif ev.name == "CareRecordsAccessed":
        _check_read(ctx, ev, ref, case)
    elif ev.name == "CaseAnswered":
        _check_answer(ctx, ev, ref, case)


def _check_opening(ctx: FlowContext, ev: ChainEvent) -> None:
    a = ev.args
    ref = hx(a["caseId"])
    requester = ctx.state.member(a["requester"])
    if requester is None or requester.status != 1:
        ctx.flag("case-open", f"case {ref} was opened by {a['requester']}, not an active member", ref)
    consultants = consultants_of(a["consultants"])
    for consultant in consultants:
        m = ctx.state.member(consultant)
        if m is None or m.status != 1 or consultant in (a["requester"], a["patient"]) or consultants.count(consultant) > 1:
            ctx.flag("case-open", f"case {ref}: consultant {consultant} is not an active member other than the requester, invited once", ref)
    request = ctx.state.records.get(hx(a["requestId"]))
    if request is None or request.author != a["requester"] or request.category != REFERRAL or request.patient != a["patient"]:
        ctx.flag("case-open", f"case {ref}: its request {hx(a['requestId'])} is not a REFERRAL record of {a['patient']} anchored by {a['requester']}", ref)
    for rid in (hx(r) for r in a["attachedIds"]):
        record = ctx.state.records.get(rid)
        if record is None or record.patient != a["patient"] or record.erased:
            ctx.flag("case-open", f"case {ref}: attached record {rid} is not an unerased record of {a['patient']}", rid)


def _check_read(ctx: FlowContext, ev: ChainEvent, ref: str, case: dict[str, Any]) -> None:
    a = ev.args
    reader = a["reader"]
    what = f"read of {len(a['recordIds'])} record(s) under case {ref} by {reader}"
    if case["state"] != "APPROVED":
        ctx.flag("case-read", f"{what}: the case is {case['state'].lower()}", ref)
        return
    if ev.timestamp > case["until"]:
        ctx.flag("case-read", f"{what}: after its consent ended ({case['until']})", ref)
    consultant = case["consultants"].get(reader)
    for rid in (hx(r) for r in a["recordIds"]):
        if reader == case["requester"]:
            allowed = rid in case["answers"] or rid in case["notes"]
        elif consultant is not None and consultant["status"] in ("ACCEPTED", "ANSWERED"):
            allowed = rid in case["attached"] or case["answers"].get(rid) == reader or reader in case["shared"].get(rid, [])
        else:
            allowed = False
        if not allowed:
            ctx.flag("case-read", f"{what}: record {rid} is not open to this reader in the case", rid)


def _check_answer(ctx: FlowContext, ev: ChainEvent, ref: str, case: dict[str, Any]) -> None:
    a = ev.args
    consultant, rid = a["consultant"], hx(a["recordId"])
    status = case["consultants"].get(consultant, {}).get("status")
    if status not in ("ACCEPTED", "ANSWERED"):
        ctx.flag("case-answer", f"answer {rid} to case {ref} by {consultant}, which {'never accepted it' if status else 'is not its consultant'} ({status or 'none'})", rid)
    if case["state"] != "APPROVED" or ev.timestamp > case["until"]:
        ctx.flag("case-answer", f"answer {rid} to case {ref} while the case was {case['state'].lower()} or past its consent", rid)
    record = ctx.state.records.get(rid)
    if record is None or record.author != consultant or record.patient != case["patient"] or record.anchored_at < case["opened_at"]:
        ctx.flag("case-answer", f"answer {rid} to case {ref} is not a record of {case['patient']} written by {consultant} for the case", rid)


def _apply(flow: FlowState, ev: ChainEvent) -> None:
    a = ev.args
    cases = _cases(flow)
    if ev.name == "CaseOpened":
        cases[hx(a["caseId"])] = {
            "patient": a["patient"], "requester": a["requester"], "request": hx(a["requestId"]), "priority": PRIORITIES[int(a["priority"])],
            "opened_at": ev.timestamp, "deadline": int(a["deadline"]), "state": "OPEN", "until": 0, "closed_at": 0,
            "attached": [hx(a["requestId"]), *(hx(r) for r in a["attachedIds"])],
            "consultants": {c: {"status": "INVITED", "accepted_at": 0, "answered_at": 0, "reason": 0} for c in consultants_of(a["consultants"])},
            "by_index": {str(i + 1): c for i, c in enumerate(consultants_of(a["consultants"]))},
            "answers": {}, "notes": [], "shared": {}, "reads": 0, "overdue": False,
        }
        return
    ref = hx(a["ref"] if ev.name == "CareRecordsAccessed" else a["caseId"])
    case = cases.get(ref)
    if case is None:
        return
    if ev.name == "CaseApproved":
        case["state"], case["until"] = "APPROVED", int(a["until"])
    elif ev.name == "CaseRefused":
        case["state"], case["closed_at"] = "REFUSED", ev.timestamp
    elif ev.name == "CaseClosed":
        case["state"], case["closed_at"] = "CLOSED", ev.timestamp
    elif ev.name == "CaseAccepted" and a["consultant"] in case["consultants"]:
        case["consultants"][a["consultant"]].update(status="ACCEPTED", accepted_at=ev.timestamp)
    elif ev.name == "CaseDeclined" and a["consultant"] in case["consultants"]:
        case["consultants"][a["consultant"]].update(status="DECLINED", reason=int(a["reason"]))
    elif ev.name == "CaseAnswered" and a["consultant"] in case["consultants"]:
        entry = case["consultants"][a["consultant"]]
        entry["status"] = "ANSWERED"
        entry["answered_at"] = entry["answered_at"] or ev.timestamp  # the first answer counts for the turnaround
        case["answers"][hx(a["recordId"])] = a["consultant"]
    elif ev.name == "CaseShared":
        rid = hx(a["recordId"])
        if rid not in case["answers"] and rid not in case["notes"]:
            case["notes"].append(rid)
        mask = int(a["sharedWith"])
        case["shared"][rid] = sorted(address for index, address in case["by_index"].items() if mask >> (int(index) - 1) & 1)
    elif ev.name == "CareRecordsAccessed":
        case["reads"] += len(a["recordIds"])


def _finish(ctx: FlowContext, end_time: int) -> None:
    """Overdue: no answer by the deadline (answered late, or still unanswered at the end of the range)."""
    ctx.flow["end_time"] = end_time
    for case in _cases(ctx).values():
        if case["state"] == "REFUSED":
            continue
        answered = [c["answered_at"] for c in case["consultants"].values() if c["answered_at"]]
        first = min(answered) if answered else None
        case["overdue"] = (first is not None and first > case["deadline"]) or (first is None and min(end_time, case["closed_at"] or end_time) > case["deadline"])


def _hours(seconds: list[int]) -> float | None:
    return round(statistics.median(seconds) / 3600, 3) if seconds else None


def _report(flow: FlowState, state: AuditState) -> dict[str, Any]:
    def country(address: str) -> str:
        m = state.member(address)
        return m.country if m else "?"

    rows: list[dict[str, Any]] = []
    pairs: dict[str, dict[str, Any]] = {}
    for ref, case in sorted(_cases(flow).items(), key=lambda item: item[1]["opened_at"]):
        accept = {c: v["accepted_at"] - case["opened_at"] for c, v in case["consultants"].items() if v["accepted_at"]}
        answer = {c: v["answered_at"] - case["opened_at"] for c, v in case["consultants"].items() if v["answered_at"]}
        rows.append({
            "case_id": ref, "requester": case["requester"], "patient": case["patient"], "priority": case["priority"], "state": case["state"],
            "consultants": len(case["consultants"]), "answers": len(case["answers"]), "reads": case["reads"], "overdue": case["overdue"],
            "seconds_to_accept": accept, "seconds_to_answer": answer,
        })
        for consultant in case["consultants"]:
            key = f"{country(case['requester'])}->{country(consultant)}"
            pair = pairs.setdefault(key, {"pair": key, "cases": 0, "overdue": 0, "accept": [], "answer": []})
            pair["cases"] += 1
            pair["overdue"] += 1 if case["overdue"] else 0
            if consultant in accept:
                pair["accept"].append(accept[consultant])
            if consultant in answer:
                pair["answer"].append(answer[consultant])
    per_pair = [
        {"pair": p["pair"], "cases": p["cases"], "overdue": p["overdue"], "median_hours_to_accept": _hours(p["accept"]), "median_hours_to_answer": _hours(p["answer"])}
        for p in sorted(pairs.values(), key=lambda p: p["pair"])
    ]
    return {
        "cases": len(rows), "closed": sum(1 for r in rows if r["state"] == "CLOSED"), "overdue": sum(1 for r in rows if r["overdue"]),
        "answers": sum(r["answers"] for r in rows), "per_case": rows, "per_country_pair": per_pair,
    }


def _bars(title: str, rows: list[tuple[str, float]]) -> str:
    if not rows:
        return ""
    peak = max(value for _label, value in rows) or 1.0
    row_h, left, width = 24, 160, 700
    shapes = [f"<text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"600\">{html.escape(title)}</text>"]
    for index, (label, value) in enumerate(rows):
        y = 24 + index * row_h
        w = (width - left - 80) * value / peak
        shapes.append(f"<text x=\"{left - 8}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">{html.escape(label)}</text>")
        shapes.append(f"<rect x=\"{left}\" y=\"{y + 3}\" width=\"{w:.1f}\" height=\"{row_h - 8}\" fill=\"#3b7dd8\"/>")
        shapes.append(f"<text x=\"{left + w + 6:.1f}\" y=\"{y + 14}\" font-size=\"12\">{value:.2f} h</text>")
    return f"<svg viewBox=\"0 0 {width} {row_h * len(rows) + 30}\" role=\"img\" aria-label=\"{html.escape(title)}\">{''.join(shapes)}</svg>"


def _html(section: dict[str, Any]) -> str:
    pairs = section.get("per_country_pair", [])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("country pair"), _("cases"), _("median hours to accept"), _("median hours to answer"), _("overdue")))

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = "".join(
        f"<tr><td>{html.escape(p['pair'])}</td><td>{p['cases']}</td><td>{cell(p['median_hours_to_accept'])}</td><td>{cell(p['median_hours_to_answer'])}</td><td>{p['overdue']}</td></tr>"
        for p in pairs)
    summary = _("{cases} cases, {closed} closed, {answers} answers, {overdue} overdue").format(
        cases=section.get("cases", 0), closed=section.get("closed", 0), answers=section.get("answers", 0), overdue=section.get("overdue", 0))
    charts = _bars(_("Median hours to accept, per country pair"), [(p["pair"], p["median_hours_to_accept"]) for p in pairs if p["median_hours_to_accept"] is not None])
    charts += _bars(_("Median hours to answer, per country pair"), [(p["pair"], p["median_hours_to_answer"]) for p in pairs if p["median_hours_to_answer"] is not None])
    return f"<h2>{html.escape(_('Teleconsultation referral cases'))}</h2><p>{html.escape(summary)}</p><table><tr>{head}</tr>{rows}</table>{charts}"


FAMILY = register(FlowFamily(name="cases", contract="ReferralCases", rules=RULES, check=_check, apply=_apply, report=_report, finish=_finish, html=_html))
