"""The delegate-read rule family: replays DelegateAccessLog's `DelegateRecordsAccessed` events (keys an institution
released to a patient's delegate, logged before they left) and judges each by the chain's own record at its block.

Rule: every delegate read named the patient's delegate at that block (DelegateSet / DelegateRemoved replayed), was
logged by an active member, and covers live records anchored on their own of that one patient that the member
authored or held a consent in force covering their category for. The report counts delegate reads per institution
and lists the latest reads (patient, delegate, institution, records, block, transaction).
"""

from __future__ import annotations

import html
from typing import Any

from i18n import _
from ledger.audit.fetch import ChainEvent
from ledger.audit.flows import FlowContext, FlowFamily, FlowState, register
from ledger.audit.state import CONSENT_ACTIVE, MEMBER_ACTIVE, AuditState, hx

LISTED = 50  # the report lists this many latest reads; the counts cover all

RULES = {
    "delegate-read": "Every delegate read named the patient's delegate at its block, was logged by an active member that authored "
                     "each record or held a consent in force covering its category, of live records of that one patient.",
}


def _check(ctx: FlowContext, ev: ChainEvent) -> None:
    if ev.name != "DelegateRecordsAccessed":
        return
    a = ev.args
    patient, delegate, institution = a["patient"], a["delegate"], a["institution"]
    what = _("delegate read by {delegate} of {count} record(s) of {patient}, released by {institution}").format(
        delegate=delegate, count=len(a["recordIds"]), patient=patient, institution=institution)
    current = ctx.state.delegate_of(patient)
    if not current or current != delegate:
        ctx.flag("delegate-read", _("{what}: the patient's delegate at block {block} was {current}").format(
            what=what, block=ev.block, current=current or _("nobody")), patient)
    member = ctx.state.member(institution)
    if member is None or member.status != MEMBER_ACTIVE:
        ctx.flag("delegate-read", _("{what}: {institution} was not an active member").format(what=what, institution=institution), institution)
    consent = ctx.state.consent(patient, institution)
    in_force = consent is not None and consent.status == CONSENT_ACTIVE and consent.valid_from <= ev.timestamp < consent.valid_until
    for rid in (hx(r) for r in a["recordIds"]):
        record = ctx.state.records.get(rid)
        if record is None or record.erased or record.patient != patient:
            ctx.flag("delegate-read", _("{what}: record {record} is unknown, erased or not the patient's").format(what=what, record=rid), rid)
        elif record.author != institution and not (in_force and consent is not None and (consent.categories >> record.category) & 1):
            ctx.flag("delegate-read", _("{what}: {institution} neither authored record {record} nor held a consent covering it").format(
                what=what, institution=institution, record=rid), rid)


def _apply(flow: FlowState, ev: ChainEvent) -> None:
    if ev.name != "DelegateRecordsAccessed":
        return
    a = ev.args
    flow["reads"] = flow.get("reads", 0) + 1
    flow["records"] = flow.get("records", 0) + len(a["recordIds"])
    per = flow.setdefault("per_institution", {})
    per[a["institution"]] = per.get(a["institution"], 0) + 1
    latest = flow.setdefault("latest", [])
    latest.append({"patient": a["patient"], "delegate": a["delegate"], "institution": a["institution"],
                   "record_ids": [hx(r) for r in a["recordIds"]], "block": ev.block, "timestamp": ev.timestamp, "transaction": ev.tx})
    del latest[:-LISTED]


def _report(flow: FlowState, state: AuditState) -> dict[str, Any]:
    institutions = []
    for address, reads in sorted(flow.get("per_institution", {}).items()):
        member = state.member(address)
        institutions.append({"address": address, "name": member.name if member else address, "delegate_reads": reads})
    return {"delegate_reads": flow.get("reads", 0), "records": flow.get("records", 0), "institutions": institutions, "latest": list(flow.get("latest", []))}


def _html(section: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("institution"), _("delegate reads")))
    rows = "".join(f"<tr><td>{html.escape(r['name'])}</td><td>{r['delegate_reads']}</td></tr>" for r in section.get("institutions", []))
    latest_head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("block"), _("patient"), _("delegate"), _("institution"), _("records"), _("transaction")))
    latest = "".join(
        f"<tr><td>{r['block']}</td><td>{html.escape(r['patient'])}</td><td>{html.escape(r['delegate'])}</td><td>{html.escape(r['institution'])}</td>"
        f"<td>{len(r['record_ids'])}</td><td>{html.escape(r['transaction'])}</td></tr>"
        for r in reversed(section.get("latest", [])))
    summary = html.escape(_("{reads} delegate read(s) of {records} record(s), each logged on chain before its keys left.").format(
        reads=section.get("delegate_reads", 0), records=section.get("records", 0)))
    title = html.escape(_("Reads by patients' delegates"))
    return (f"<h2>{title}</h2><p>{summary}</p><table><tr>{head}</tr>{rows}</table>"
            + (f"<h3>{html.escape(_('Latest delegate reads'))}</h3><table><tr>{latest_head}</tr>{latest}</table>" if latest else ""))


FAMILY = register(FlowFamily(name="delegate", contract="DelegateAccessLog", rules=RULES, check=_check, apply=_apply, report=_report, html=_html))
