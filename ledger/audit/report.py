"""The audit report as JSON, with a digest that is the same for every audit of the same chain range.

Layout::

    {"digest": "sha256:<hex>",       # sha256 of the canonical JSON of "report"
     "report": {...},                # only chain-derived data: range, totals, institutions, countries, violations
     "run": {...}}                   # how this run went (timings, checkpoint use, wall-clock time): not digested

Canonical JSON: keys sorted, no whitespace, ASCII only; lists in a defined order (institutions by address,
countries by code, programmes by id, violations by block / log index / rule).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ledger.audit.deep import DeepFigures
from ledger.audit.state import CLAIM_PAID, CLAIM_REJECTED, CONSENT_ACTIVE, MEMBER_ACTIVE, AuditState, role_names
from ledger.audit.stats import INSTITUTION_FIGURES, Stats
from ledger.audit.violations import DEEP_RULES, RULES, Violation

REPORT_FORMAT = "healthsilk-audit-report/1"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def digest_of(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def build_report(
    *,
    chain_id: int,
    contracts: dict[str, str],
    from_block: int,
    to_block: int,
    to_block_hash: str,
    to_block_time: int,
    deep: bool,
    state: AuditState,
    stats: Stats,
    violations: list[Violation],
    deep_figures: DeepFigures | None,
    run: dict[str, Any],
    flows: dict[str, Any] | None = None,
) -> dict[str, Any]:
    by_rule: dict[str, int] = {}
    for v in violations:
        by_rule[v.rule] = by_rule.get(v.rule, 0) + 1
    institutions = _institutions(state, stats)
    body: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "chain_id": chain_id,
        "contracts": contracts,
        "range": {"from_block": from_block, "to_block": to_block, "to_block_hash": to_block_hash, "to_block_time": to_block_time},
        "deep": deep,
        "rules": [
            {"id": rule, "description": text, "checked": deep or rule not in DEEP_RULES, "violations": by_rule.get(rule, 0)}
            for rule, text in RULES.items()
        ],
        "totals": _totals(state, stats, len(violations)),
        "institutions": institutions,
        "flows": flows or {},  # each care flow's section (ledger.audit.flows)
        "countries": _countries(institutions),
        "programmes": _programmes(state, stats),
        "series": stats.series,
        "deep_figures": deep_figures.as_json() if deep_figures else None,
        "violations": [v.as_json() for v in violations],
    }
    return {"digest": digest_of(body), "report": body, "run": run}


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=True) + "\n")
    return path


def verify_digest(report: dict[str, Any]) -> bool:
    """True when the report's digest matches its body (e.g. for a regulator checking a received file)."""
    return bool(report.get("digest") == digest_of(report["report"]))


def _totals(state: AuditState, stats: Stats, violations: int) -> dict[str, int]:
    counts = stats.event_counts
    members = state.members.values()
    return {
        "events": stats.events,
        "first_event_block": stats.first_block,
        "last_event_block": stats.last_block,
        "members": len(state.members),
        "members_active": sum(1 for m in members if m.status == MEMBER_ACTIVE),
        "members_suspended": sum(1 for m in members if m.status != MEMBER_ACTIVE),
        "proposals": counts.get("ProposalCreated", 0),
        "proposals_executed": counts.get("ProposalExecuted", 0),
        "patients": len(state.patients),
        "patients_registered": sum(1 for p in state.patients.values() if p.hpke_public_key),
        "consents_granted": counts.get("ConsentGranted", 0),
        "consents_revoked": counts.get("ConsentRevoked", 0),
        "consents_active_at_end": sum(1 for c in state.consents.values() if c.status == CONSENT_ACTIVE),
        "records_anchored": counts.get("RecordAnchored", 0),
        "record_versions": sum(figures["record_versions"] for figures in stats.institutions.values()),
        "records_uploaded_by_patient_authorisation": counts.get("UploadAuthorizationUsed", 0),
        "batches": counts.get("RecordBatchAnchored", 0),
        "batched_records": sum(figures["batched_records"] for figures in stats.institutions.values()),
        "erasures": counts.get("RecordErased", 0),
        "access_events": counts.get("RecordsAccessed", 0),
        "records_read": sum(figures["records_read"] for figures in stats.institutions.values()),
        "emergency_reads": sum(figures["emergency_reads"] for figures in stats.institutions.values()),
        "programmes": len(state.programmes),
        "cards": len(state.cards),
        "pre_authorisations": counts.get("PreAuthRequested", 0),
        "claims_submitted": counts.get("ClaimSubmitted", 0),
        "claims_paid": counts.get("ClaimPaid", 0),
        "claims_rejected": counts.get("ClaimRejected", 0),
        "claims_paid_with_override": sum(figures.get("paid_with_override", 0) for figures in stats.programmes.values()),
        "amount_paid": sum(figures.get("amount_paid", 0) for figures in stats.programmes.values()),
        "cash_disbursed": sum(figures.get("cash_disbursed", 0) for figures in stats.programmes.values()),
        "escrow_at_end": sum(p.escrow for p in state.programmes.values()),
        "claims_paid_ever": sum(1 for c in state.claims.values() if c.status == CLAIM_PAID),
        "claims_rejected_ever": sum(1 for c in state.claims.values() if c.status == CLAIM_REJECTED),
        "violations": violations,
    }


def _institutions(state: AuditState, stats: Stats) -> list[dict[str, Any]]:
    rows = []
    for account in sorted(set(state.members) | set(stats.institutions)):
        m = state.members.get(account)
        figures = stats.institutions.get(account, dict.fromkeys(INSTITUTION_FIGURES, 0))
        rows.append({
            "address": account,
            "name": m.name if m else "(not a member)",
            "country": m.country if m else "??",
            "roles": role_names(m.roles) if m else [],
            "status": ("active" if m.status == MEMBER_ACTIVE else "suspended") if m else "unknown",
            "history": m.history if m else [],
            **figures,
        })
    return rows


def _countries(institutions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    countries: dict[str, dict[str, Any]] = {}
    for row in institutions:
        entry = countries.setdefault(row["country"], {"country": row["country"], "institutions": 0, **dict.fromkeys(INSTITUTION_FIGURES, 0)})
        entry["institutions"] += 1
        for figure in INSTITUTION_FIGURES:
            entry[figure] += row[figure]
    return [countries[code] for code in sorted(countries)]


def _programmes(state: AuditState, stats: Stats) -> list[dict[str, Any]]:
    rows = []
    for p in sorted(state.programmes.values(), key=lambda p: p.id):
        payer = state.members.get(p.payer)
        rows.append({
            "id": p.id, "name": p.name, "payer": p.payer, "payer_name": payer.name if payer else "", "currency": p.currency,
            "escrow_at_end": p.escrow, "funded": p.funded, "withdrawn": p.withdrawn, "paid": p.paid, "disbursed": p.disbursed,
            "cards": sum(1 for c in state.cards.values() if c.programme_id == p.id),
            "in_range": stats.programmes.get(str(p.id), {}),
        })
    return rows
