"""The last chapter: an auditor trusts nothing but the chain and the stored payloads, and replays everything."""

from __future__ import annotations

from i18n import _
from i18n.formatting import number_text
from ledger.audit.html import render_html
from ledger.audit.replay import AuditOptions, run_audit
from ledger.audit.report import write_report
from ledger.chain import Ledger
from network.settings import NetworkSettings
from wallet.demo.narration import Narrator


def audit_the_ledger(narrator: Narrator, ledger: Ledger, settings: NetworkSettings) -> None:
    narrator.chapter(_("An auditor replays the whole ledger and re-checks every rule"))
    result = run_audit(ledger, AuditOptions(deep=True, ipfs_url=settings.ipfs_url, ipfs_secret=settings.ipfs_api_secret))
    totals = result.report["report"]["totals"]
    narrator.say(_("{events} events replayed; {members} members, {consents} consents granted, {reads} logged reads, {claims} claim(s) paid; every payload re-fetched from IPFS and re-hashed").format(
        events=number_text(totals["events"]), members=totals["members"], consents=totals["consents_granted"], reads=totals["access_events"], claims=totals["claims_paid"]))
    report_dir = settings.root / "demo"
    write_report(result.report, report_dir / "audit-report.json")
    (report_dir / "audit-report.html").write_text(render_html(result.report), encoding="utf-8")  # in the demo's language
    narrator.check(not result.violations, _("the audit found {count} violation(s): {first}").format(count=len(result.violations), first=[v for v in result.violations][:3]))
    narrator.say(_("[green]no violations[/]; report digest {digest}…; HTML for the regulator: {path}").format(digest=result.digest[:23], path=report_dir / "audit-report.html"))
