"""The last chapter: an auditor trusts nothing but the chain and the stored payloads, and replays everything."""

from __future__ import annotations

from ledger.audit.html import render_html
from ledger.audit.replay import AuditOptions, run_audit
from ledger.audit.report import write_report
from ledger.chain import Ledger
from network.settings import NetworkSettings
from wallet.demo.narration import Narrator


def audit_the_ledger(narrator: Narrator, ledger: Ledger, settings: NetworkSettings) -> None:
    narrator.chapter("An auditor replays the whole ledger and re-checks every rule")
    result = run_audit(ledger, AuditOptions(deep=True, ipfs_url=settings.ipfs_url, ipfs_secret=settings.ipfs_api_secret))
    totals = result.report["report"]["totals"]
    narrator.say(f"{totals['events']} events replayed; {totals['members']} members, {totals['consents_granted']} consents granted, {totals['access_events']} logged reads, {totals['claims_paid']} claim paid; every payload re-fetched from IPFS and re-hashed")
    report_dir = settings.root / "demo"
    write_report(result.report, report_dir / "audit-report.json")
    (report_dir / "audit-report.html").write_text(render_html(result.report))
    narrator.check(not result.violations, f"the audit found {len(result.violations)} violation(s): {[v for v in result.violations][:3]}")
    narrator.say(f"[green]no violations[/]; report digest {result.digest[:23]}…; HTML for the regulator: {report_dir / 'audit-report.html'}")
