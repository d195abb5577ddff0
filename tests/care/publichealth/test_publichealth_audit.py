"""The audit replays PublicHealthReports: clean reporting passes; an alert that no rule backs, and a clear report that
publishes a small cell (anchored around the service, straight through the contract), are found."""

from __future__ import annotations

import hashlib

from care.publichealth.measure import encode, measure_report
from care.publichealth.suppression import Suppressed, suppress
from crypto import HpkePrivateKey
from ledger.audit import AuditOptions, run_audit
from ledger.audit.flow_publichealth import verify_payloads
from ledger.publichealth import (
    PublicHealthReports,
    ReportAnchor,
    RuleAlertInput,
    iso_week,
)
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.ipfs_client import IpfsClient
from records.cid import cid_to_bytes
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now

CLINIC = throwaway_account("ph-audit/clinic")
MINISTRY = throwaway_account("ph-audit/ministry")


def test_audit_of_public_health_reporting(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    g0, g1 = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for account, name, roles in ((CLINIC, "Clinic", ["PROVIDER"]), (MINISTRY, "Ministry", ["PUBLIC_HEALTH"])):
        application = MemberApplication(address=account.address, name=name, country="BJ", roles=roles, hpke_public_key=HpkePrivateKey.generate().public_key().to_bytes())
        assert registry.approve(g1, registry.propose_admission(g0, application))
    ph = PublicHealthReports(ledger)
    ph.approve_parameters(g1, ph.propose_parameters(g0, 5, False))  # published in clear, so the auditor can read the cells
    ipfs = IpfsClient(chain.settings.ipfs_url)
    week = iso_week(chain_now(ledger.w3))
    clinic = ledger.sender(CLINIC)

    def anchor(counts: dict, **fields: object) -> tuple:
        published = suppress(counts, 5, fields.pop("earlier", []))  # type: ignore[arg-type]
        values = dict(published.values) | fields.pop("override", {})  # type: ignore[operator]
        data = encode(measure_report(CLINIC.address, week, Suppressed(k=5, values=values)))
        cid = ipfs.add(data)
        return ph.submit_report(clinic, ReportAnchor(week=week, content_hash=hashlib.sha256(data).digest(), cid=cid_to_bytes(cid), encrypted=False, **fields)), published

    counts = {("A00", "BJ", "25-44", "female"): 1, ("B50", "BJ", "25-44", "male"): 6}
    (first, alerts), published = anchor(counts, rule_alerts=[RuleAlertInput(disease="A00", country="BJ", level=3, rule=1)])
    (second, _), _ = anchor(counts | {("B50", "BJ", "0-4", "male"): 5}, is_correction=True, supersedes=first.report_id, earlier=[published.values])
    manual = ph.raise_alert(ledger.sender(MINISTRY), "B50", "BJ", "MO", week, 2)
    ph.acknowledge(clinic, alerts[0].alert_id)

    result = run_audit(ledger, AuditOptions())
    mine = [v for v in result.violations if v.rule.startswith("ph-")]
    assert mine == [], mine
    section = result.report["report"]["flows"]["publichealth"]
    assert section["reports"] == 2 and section["corrections"] == 1 and section["alerts"] == 2
    pending = {a["alert_id"]: a["not_acknowledged_by"] for a in section["unacknowledged_alerts"]}
    assert CLINIC.address not in pending[alerts[0].alert_id] and MINISTRY.address in pending[alerts[0].alert_id]
    assert manual.alert_id in pending
    assert verify_payloads(result.state.flows["publichealth"], ipfs.cat) == []

    # Around the service: a clear report with a published 2, and an "immediately notifiable" alert for malaria.
    other_week = iso_week(chain_now(ledger.w3) - 7 * 86400)
    leaky = suppress({("B50", "BJ", "5-14", "male"): 9}, 5).values | {("B50", "BJ", "0-4", "female"): 2}
    data = encode(measure_report(CLINIC.address, other_week, Suppressed(k=5, values=leaky)))
    cid = ipfs.add(data)
    ph.submit_report(clinic, ReportAnchor(week=other_week, content_hash=hashlib.sha256(data).digest(), cid=cid_to_bytes(cid), encrypted=False,
                                          rule_alerts=[RuleAlertInput(disease="B50", country="BJ", level=3, rule=1)]))
    result = run_audit(ledger, AuditOptions())
    assert {v.rule for v in result.violations if v.rule.startswith("ph-")} == {"ph-alert-origin"}
    found = verify_payloads(result.state.flows["publichealth"], ipfs.cat)
    assert [rule for rule, _text, _subject in found] == ["ph-payload"], found
