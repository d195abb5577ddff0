"""The e-prescription rule family (issue 14): replays Prescriptions' events and judges them by the chain's record.

Rules: a prescription is issued by an active PROVIDER on its own PRESCRIPTION record of the patient; no prescription
is dispensed more often than allowed; no dispense happens after cancellation, outside the validity period or inside
the minimum interval; every dispense comes from an active PHARMACY in the prescription's scope that it was presented
to; every dispense has its MedicationDispense record (DISPENSE, of the patient, anchored on its own by the pharmacy,
used for one dispense only); reads under a prescription are the prescriber's or a presented-to pharmacy's. The
report gives dispenses per country and per pharmacy, and how many crossed a border.
"""

from __future__ import annotations

import html
from typing import Any

from i18n import _
from ledger.audit.fetch import ChainEvent
from ledger.audit.flows import FlowContext, FlowFamily, FlowState, register
from ledger.audit.state import PHARMACY, PROVIDER, AuditState, hx

PRESCRIPTION_CATEGORY, DISPENSE_CATEGORY = 3, 11
SCOPES = ("any pharmacy", "country", "named pharmacy")

RULES = {
    "prescription-issue": "Every prescription was issued by an active PROVIDER on its own PRESCRIPTION record of the patient.",
    "prescription-count": "No prescription was dispensed more often than allowed.",
    "prescription-time": "No dispense happened after cancellation, outside the validity period or inside the minimum interval.",
    "prescription-pharmacy": "Every dispense came from an active PHARMACY in the prescription's scope that it was presented to.",
    "prescription-dispense-record": "Every dispense has its own MedicationDispense record: DISPENSE, of the patient, anchored on its own by the pharmacy.",
    "prescription-read": "Every read under a prescription was by its prescriber or a pharmacy it was presented to, of its records.",
}


def _country(state: AuditState, account: str) -> str:
    m = state.member(account)
    return m.country if m else "?"


def _check(ctx: FlowContext, ev: ChainEvent) -> None:
    a = ev.args
    table = ctx.flow.get("prescriptions", {})
    if ev.name == "PrescriptionIssued":
        pid, prescriber = hx(a["prescriptionId"]), a["prescriber"]
        m = ctx.state.member(prescriber)
        if m is None or not m.has_active_role(PROVIDER):
            ctx.flag("prescription-issue", f"prescription {pid} was issued by {prescriber}, not an active PROVIDER", pid)
        record = ctx.state.records.get(hx(a["recordId"]))
        if record is None or record.patient != a["patient"] or record.category != PRESCRIPTION_CATEGORY or record.author != prescriber:
            ctx.flag("prescription-issue", f"prescription {pid}: record {hx(a['recordId'])} is not {prescriber}'s PRESCRIPTION record of {a['patient']}", pid)
        if pid in table:
            ctx.flag("prescription-issue", f"prescription {pid} was issued twice", pid)
        return
    pid = hx(a["prescriptionId"]) if "prescriptionId" in a else hx(a.get("ref", b""))
    rx = table.get(pid)
    if ev.name == "CareRecordsAccessed":
        what = f"read of {len(a['recordIds'])} record(s) under prescription {pid} by {a['reader']}"
        if rx is None:
            ctx.flag("prescription-read", f"{what}: no such prescription", pid)
            return
        reader = a["reader"]
        for rid in (hx(r) for r in a["recordIds"]):
            if rid == rx["record_id"] and (reader == rx["prescriber"] or reader in rx["presented"]):
                continue
            record = ctx.state.records.get(rid)
            if reader == rx["prescriber"] and record is not None and record.category == DISPENSE_CATEGORY and record.patient == rx["patient"] and record.author in rx["presented"]:
                continue
            ctx.flag("prescription-read", f"{what}: record {rid} is not one it may read", rid)
        return
    if rx is None:
        ctx.flag("prescription-issue", f"{ev.name} of unknown prescription {pid}", pid)
        return
    if ev.name == "PrescriptionDispensed":
        _check_dispense(ctx, ev, pid, rx)


def _check_dispense(ctx: FlowContext, ev: ChainEvent, pid: str, rx: dict[str, Any]) -> None:
    a, now, pharmacy = ev.args, ev.timestamp, ev.args["pharmacy"]
    if rx["dispensed"] >= rx["allowed"] or int(a["dispensed"]) != rx["dispensed"] + 1:
        ctx.flag("prescription-count", f"prescription {pid} was dispensed a {rx['dispensed'] + 1}th time by {pharmacy}; {rx['allowed']} allowed", pid)
    if rx["cancelled_at"] and now >= rx["cancelled_at"]:
        ctx.flag("prescription-time", f"prescription {pid} was dispensed by {pharmacy} after its cancellation", pid)
    if not rx["valid_from"] <= now < rx["valid_until"]:
        ctx.flag("prescription-time", f"prescription {pid} was dispensed at {now}, outside its validity [{rx['valid_from']}, {rx['valid_until']})", pid)
    if rx["dispensed"] and now < rx["last_at"] + rx["min_interval"]:
        ctx.flag("prescription-time", f"prescription {pid} was dispensed at {now}, inside its interval (next allowed {rx['last_at'] + rx['min_interval']})", pid)
    m = ctx.state.member(pharmacy)
    if m is None or not m.has_active_role(PHARMACY):
        ctx.flag("prescription-pharmacy", f"prescription {pid} was dispensed by {pharmacy}, not an active PHARMACY", pid)
    if pharmacy not in rx["presented"]:
        ctx.flag("prescription-pharmacy", f"prescription {pid} was dispensed by {pharmacy}, to which it was not presented", pid)
    if rx["scope"] == 1 and _country(ctx.state, pharmacy) != rx["country"]:
        ctx.flag("prescription-pharmacy", f"prescription {pid} (only in {rx['country']}) was dispensed by {pharmacy} in {_country(ctx.state, pharmacy)}", pid)
    if rx["scope"] == 2 and pharmacy != rx["pharmacy"]:
        ctx.flag("prescription-pharmacy", f"prescription {pid} (only at {rx['pharmacy']}) was dispensed by {pharmacy}", pid)
    rid = hx(a["dispenseRecordId"])
    record = ctx.state.records.get(rid)
    if record is None or record.erased or record.category != DISPENSE_CATEGORY or record.patient != rx["patient"] or record.author != pharmacy:
        ctx.flag("prescription-dispense-record", f"dispense of {pid} by {pharmacy}: record {rid} is not its MedicationDispense of {rx['patient']}", rid)
    if rid in ctx.flow.get("used_records", {}):
        ctx.flag("prescription-dispense-record", f"dispense of {pid} by {pharmacy}: record {rid} was already used for another dispense", rid)


def _apply(flow: FlowState, ev: ChainEvent) -> None:
    a = ev.args
    table = flow.setdefault("prescriptions", {})
    if ev.name == "PrescriptionIssued":
        country = bytes(a["country"]).rstrip(b"\x00").decode("ascii", "replace")
        table.setdefault(hx(a["prescriptionId"]), {
            "patient": a["patient"], "prescriber": a["prescriber"], "record_id": hx(a["recordId"]), "valid_from": int(a["validFrom"]),
            "valid_until": int(a["validUntil"]), "allowed": int(a["dispensesAllowed"]), "min_interval": int(a["minInterval"]), "scope": int(a["scope"]),
            "country": country, "pharmacy": a["pharmacy"], "single": bool(a["singleDispense"]), "issued_at": ev.timestamp,
            "cancelled_at": 0, "dispensed": 0, "last_at": 0, "presented": [], "dispenses": [],
        })
        return
    rx = table.get(hx(a.get("prescriptionId", a.get("ref", b""))))
    if rx is None:
        return
    if ev.name == "PrescriptionCancelled" and not rx["cancelled_at"]:
        rx["cancelled_at"] = ev.timestamp
    elif ev.name == "PrescriptionPresented" and a["pharmacy"] not in rx["presented"]:
        rx["presented"].append(a["pharmacy"])
    elif ev.name == "PrescriptionDispensed":
        rx["dispensed"] += 1
        rx["last_at"] = ev.timestamp
        rx["dispenses"].append([a["pharmacy"], ev.timestamp])
        flow.setdefault("used_records", {})[hx(a["dispenseRecordId"])] = hx(a["prescriptionId"])


def _report(flow: FlowState, state: AuditState) -> dict[str, Any]:
    table = flow.get("prescriptions", {})
    per_pharmacy: dict[str, int] = {}
    per_country: dict[str, int] = {}
    cross_border = 0
    for rx in table.values():
        for pharmacy, _at in rx["dispenses"]:
            per_pharmacy[pharmacy] = per_pharmacy.get(pharmacy, 0) + 1
            country = _country(state, pharmacy)
            per_country[country] = per_country.get(country, 0) + 1
            cross_border += 1 if country != _country(state, rx["prescriber"]) else 0
    pharmacies = []
    for address, count in sorted(per_pharmacy.items(), key=lambda item: (-item[1], item[0])):
        m = state.member(address)
        pharmacies.append({"address": address, "name": m.name if m else address, "country": m.country if m else "?", "dispenses": count})
    return {
        "prescriptions": len(table),
        "cancelled": sum(1 for rx in table.values() if rx["cancelled_at"]),
        "single_dispense": sum(1 for rx in table.values() if rx["single"]),
        "dispenses": sum(per_pharmacy.values()),
        "dispenses_allowed": sum(rx["allowed"] for rx in table.values()),
        "cross_border_dispenses": cross_border,
        "per_country": dict(sorted(per_country.items())),
        "per_pharmacy": pharmacies,
    }


def _html(section: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("pharmacy"), _("country"), _("dispenses")))
    rows = "".join(f"<tr><td>{html.escape(p['name'])}</td><td>{html.escape(p['country'])}</td><td>{p['dispenses']}</td></tr>" for p in section.get("per_pharmacy", []))
    countries = ", ".join(f"{html.escape(c)}: {n}" for c, n in section.get("per_country", {}).items()) or "—"
    summary = _("{prescriptions} prescriptions, {dispenses} dispenses ({cross} across a border), {cancelled} cancelled. Per country: {countries}.").format(
        prescriptions=section.get("prescriptions", 0), dispenses=section.get("dispenses", 0), cross=section.get("cross_border_dispenses", 0),
        cancelled=section.get("cancelled", 0), countries=countries)
    return f"<h2>{html.escape(_('E-prescriptions'))}</h2><p>{summary}</p><table><tr>{head}</tr>{rows}</table>"


FAMILY = register(FlowFamily(name="prescriptions", contract="Prescriptions", rules=RULES, check=_check, apply=_apply, report=_report, html=_html))
