"""The public-health rule family (issue 15): replays PublicHealthReports' events and judges them.

Rules: a report comes from an active member, with the consortium's publication mode and a threshold of at least its
k; corrections chain (a second report for a week corrects the member's latest, and only that); parameters change by
a governor's proposal and another governor's approval; an alert comes from a rule (raised by the reporting member in
the report's own transaction, for the report's week; the immediately-notifiable rule only for a disease the list
marks immediate) or by hand from an active PUBLIC_HEALTH member. The report lists late reports and the alerts not
acknowledged by every active member.

Payloads (`verify_payloads`, with IPFS): each report's bytes hash to the anchored sha256; a report published in clear
is a weekly MeasureReport of its member and week with no count in 1..k-1, and each immediately-notifiable rule
alert it raised names a disease present in it.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any

from i18n import _
from ledger.audit.fetch import ChainEvent
from ledger.audit.flows import FlowContext, FlowFamily, FlowState, register
from ledger.audit.state import GOVERNOR, MEMBER_ACTIVE, PUBLIC_HEALTH, AuditState

RULES = {
    "ph-report": "Every public-health report came from an active member, in the consortium's publication mode, suppressed with at least its k.",
    "ph-correction": "A second report for a member's week is a marked correction of its latest report for that week, and only then.",
    "ph-parameters": "Public-health parameters changed only by a governor's proposal approved by another governor.",
    "ph-alert-origin": "Every outbreak alert came from a rule of a report of the same member and week, or by hand from an active PUBLIC_HEALTH member.",
    "ph-payload": "Every report's payload matches its anchor, and a report in clear publishes no count below k.",
}
IMMEDIATE = 1


def _text8(raw: Any) -> str:
    return bytes(raw).rstrip(b"\x00").decode("ascii", "replace")


def _immediate_codes() -> set[str]:
    from care.publichealth.diseases import (
        notifiable,  # the shipped list (data), read by the auditor too
    )

    return {d.code for d in notifiable() if d.immediate}


def _check(ctx: FlowContext, ev: ChainEvent) -> None:
    a, flow = ev.args, ctx.flow
    params = flow.get("params", {"k": 5, "encrypted": True})
    if ev.name == "ReportSubmitted":
        rid, member = str(a["reportId"]), a["member"]
        m = ctx.state.member(member)
        if m is None or m.status != MEMBER_ACTIVE:
            ctx.flag("ph-report", f"report {rid} for week {a['week']} came from {member}, not an active member", rid)
        if bool(a["encrypted"]) != params["encrypted"] or int(a["k"]) < params["k"]:
            ctx.flag("ph-report", f"report {rid}: mode encrypted={a['encrypted']} k={a['k']}, consortium: encrypted={params['encrypted']} k={params['k']}", rid)
        latest = flow.get("latest", {}).get(f"{member}:{a['week']}")
        if a["isCorrection"] and str(a["supersedes"]) != str(latest):
            ctx.flag("ph-correction", f"report {rid} corrects {a['supersedes']}, but {member}'s latest for week {a['week']} is {latest}", rid)
        if not a["isCorrection"] and latest is not None:
            ctx.flag("ph-correction", f"report {rid} is a second report for week {a['week']} by {member} and not marked a correction", rid)
    elif ev.name == "AlertRaised":
        aid, raiser, rule = str(a["alertId"]), a["raisedBy"], int(a["rule"])
        m = ctx.state.member(raiser)
        if rule == 0:
            if m is None or m.status != MEMBER_ACTIVE or not m.has_active_role(PUBLIC_HEALTH):
                ctx.flag("ph-alert-origin", f"alert {aid} was raised by hand by {raiser}, not an active PUBLIC_HEALTH member", aid)
            return
        report = flow.get("reports", {}).get(str(a["reportId"]))
        if report is None or report["member"] != raiser or report["week"] != int(a["week"]) or report["tx"] != ev.tx:
            ctx.flag("ph-alert-origin", f"rule alert {aid} does not belong to a report of {raiser} for week {a['week']} in the same transaction", aid)
        if rule == IMMEDIATE and _text8(a["disease"]) not in _immediate_codes():
            ctx.flag("ph-alert-origin", f"alert {aid}: {_text8(a['disease'])} is not immediately notifiable", aid)
    elif ev.name == "ParametersChanged":
        proposal = flow.get("proposals", {}).get(str(a["proposalId"]))
        approver = ctx.state.member(a["approver"])
        if proposal is None or proposal == a["approver"] or approver is None or not approver.has_active_role(GOVERNOR):
            ctx.flag("ph-parameters", f"parameters {a['k']}/{a['encrypted']} applied by {a['approver']} without a second governor", str(a["proposalId"]))


def _apply(flow: FlowState, ev: ChainEvent) -> None:
    a = ev.args
    if ev.name == "ReportSubmitted":
        rid = str(a["reportId"])
        flow.setdefault("reports", {})[rid] = {
            "member": a["member"], "week": int(a["week"]), "content_hash": "0x" + bytes(a["contentHash"]).hex(), "cid": "0x" + bytes(a["cid"]).hex(),
            "supersedes": int(a["supersedes"]), "correction": bool(a["isCorrection"]), "encrypted": bool(a["encrypted"]), "k": int(a["k"]),
            "late": bool(a["late"]), "tx": ev.tx, "alerts": [],
        }
        flow.setdefault("latest", {})[f"{a['member']}:{a['week']}"] = rid
    elif ev.name == "AlertRaised":
        flow.setdefault("alerts", {})[str(a["alertId"])] = {
            "disease": _text8(a["disease"]), "country": bytes(a["country"]).decode("ascii", "replace"), "division": _text8(a["division"]),
            "week": int(a["week"]), "level": int(a["level"]), "rule": int(a["rule"]), "report_id": int(a["reportId"]), "raised_by": a["raisedBy"],
            "raised_at": ev.timestamp, "acknowledged_by": [],
        }
        report = flow.get("reports", {}).get(str(a["reportId"]))
        if report is not None:
            report["alerts"].append(int(a["alertId"]))
    elif ev.name == "AlertAcknowledged":
        alert = flow.get("alerts", {}).get(str(a["alertId"]))
        if alert is not None and a["member"] not in alert["acknowledged_by"]:
            alert["acknowledged_by"].append(a["member"])
    elif ev.name == "ParametersProposed":
        flow.setdefault("proposals", {})[str(a["proposalId"])] = a["proposer"]
    elif ev.name == "ParametersChanged":
        flow["params"] = {"k": int(a["k"]), "encrypted": bool(a["encrypted"])}


def _report(flow: FlowState, state: AuditState) -> dict[str, Any]:
    reports = flow.get("reports", {})
    active = sorted(addr for addr, m in state.members.items() if m.status == MEMBER_ACTIVE)
    unacknowledged = []
    for aid, alert in sorted(flow.get("alerts", {}).items(), key=lambda item: int(item[0])):
        missing = [addr for addr in active if addr not in alert["acknowledged_by"] and addr != alert["raised_by"]]
        if missing:
            unacknowledged.append({"alert_id": int(aid), "disease": alert["disease"], "place": alert["country"] + (f"-{alert['division']}" if alert["division"] else ""),
                                   "week": alert["week"], "not_acknowledged_by": missing})
    return {
        "parameters": flow.get("params", {"k": 5, "encrypted": True}),
        "reports": len(reports),
        "corrections": sum(1 for r in reports.values() if r["correction"]),
        "late_reports": [{"report_id": int(rid), "member": r["member"], "week": r["week"]} for rid, r in sorted(reports.items(), key=lambda i: int(i[0])) if r["late"]],
        "alerts": len(flow.get("alerts", {})),
        "unacknowledged_alerts": unacknowledged,
    }


def _html(section: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{a['alert_id']}</td><td>{html.escape(a['disease'])}</td><td>{html.escape(a['place'])}</td><td>{a['week']}</td><td>{len(a['not_acknowledged_by'])}</td></tr>"
        for a in section.get("unacknowledged_alerts", []))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("alert"), _("disease"), _("place"), _("week"), _("members yet to acknowledge")))
    summary = _("{reports} weekly reports ({corrections} corrections, {late} late), {alerts} outbreak alerts.").format(
        reports=section.get("reports", 0), corrections=section.get("corrections", 0), late=len(section.get("late_reports", [])), alerts=section.get("alerts", 0))
    return f"<h2>{html.escape(_('Public-health reporting'))}</h2><p>{html.escape(summary)}</p>" + (f"<table><tr>{head}</tr>{rows}</table>" if rows else "")


def verify_payloads(flow: FlowState, cat: Any) -> list[tuple[str, str, str]]:
    """With IPFS (`cat(cid text) -> bytes`): (rule, explanation, subject) for every report whose payload does not
    match its anchor, or whose clear payload publishes a count below k or raised an immediate alert it does not back."""
    from care.publichealth.measure import parse
    from records.cid import cid_to_text

    found: list[tuple[str, str, str]] = []
    alerts = flow.get("alerts", {})
    for rid, r in sorted(flow.get("reports", {}).items(), key=lambda i: int(i[0])):
        try:
            data = cat(cid_to_text(bytes.fromhex(r["cid"][2:])))
        except Exception as exc:  # noqa: BLE001 - a missing payload is itself the finding
            found.append(("ph-payload", f"report {rid}: payload {r['cid']} cannot be fetched ({exc})", rid))
            continue
        if "0x" + hashlib.sha256(data).hexdigest() != r["content_hash"]:
            found.append(("ph-payload", f"report {rid}: the payload does not hash to its anchor", rid))
            continue
        if r["encrypted"]:
            continue  # sealed to the PUBLIC_HEALTH members: its cells are theirs to check
        try:
            member, week, k, values = parse(json.loads(data))
        except ValueError as exc:
            found.append(("ph-payload", f"report {rid}: not a weekly MeasureReport ({exc})", rid))
            continue
        if member != r["member"] or week != r["week"] or k != r["k"]:
            found.append(("ph-payload", f"report {rid}: the payload names member {member}, week {week}, k {k}; the anchor another", rid))
        small = [key for key, v in values.items() if v is not None and 0 < v < r["k"]]
        if small:
            found.append(("ph-payload", f"report {rid}: {len(small)} published count(s) below k={r['k']}", rid))
        diseases = {key[0] for key, v in values.items() if v is None or v > 0}
        for aid in r["alerts"]:
            alert = alerts.get(str(aid), {})
            if alert.get("rule") == IMMEDIATE and alert.get("disease") not in diseases:
                found.append(("ph-alert-origin", f"alert {aid}: report {rid} has no {alert.get('disease')} case to back it", str(aid)))
    return found


FAMILY = register(FlowFamily(name="publichealth", contract="PublicHealthReports", rules=RULES, check=_check, apply=_apply, report=_report, html=_html, deep=verify_payloads))
