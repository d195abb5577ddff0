"""One institution's public-health reporting: build its weekly report, suppress, seal or publish, anchor, alert.

The report is built in the institution's own process from its own decrypted records (sources.py), suppressed
(suppression.py) with the consortium's k read from the chain, and sealed to every active PUBLIC_HEALTH member plus
the institution itself (so it can build a correction-safe correction later), or published in clear, as the chain
says. Its sha256 and CID are anchored; the rule alerts it triggers are raised in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from care.publichealth.alerts import place
from care.publichealth.dashboard import Dashboard, alert_line, build_dashboard
from care.publichealth.diseases import by_code
from care.publichealth.measure import encode, measure_report, parse
from care.publichealth.sources import AuthoredCases
from care.publichealth.suppression import ALL, Key, Suppressed, full_table, suppress
from crypto import CryptoError, Identity
from crypto.record_object import RecordObject, seal_record
from i18n import _
from ledger.publichealth import (
    RULE_BASELINE,
    RULE_IMMEDIATE,
    AnchoredReport,
    OutbreakAlert,
    PublicHealthReports,
    ReportAnchor,
    RuleAlertInput,
    previous_weeks,
    week_range,
    week_start,
)
from ledger.roles import Role
from ledger.transactions import TransactionSender
from records.cid import cid_to_bytes, cid_to_text
from records.clients import RecordClients

REPORT_CATEGORY = 200  # the sealed report's context category: not a record category, so it never opens as one
BASELINE_WEEKS = 8
MAX_DASHBOARD_WEEKS = 104


class PublicHealthError(ValueError):
    """A request the service refuses before anything reaches the chain (nothing changes)."""


class PublicHealthInputError(PublicHealthError):
    """The request's own values are wrong (a week that does not exist ...)."""


@dataclass
class BuiltReport:
    week: int
    region: str
    published: Suppressed
    report: dict[str, Any]
    counts: dict[Key, int] = field(repr=False)  # the true counts: never leave the process
    earlier: list[int] = field(default_factory=list)  # report ids this one would correct

    @property
    def payload(self) -> bytes:
        return encode(self.report)


@dataclass
class SubmittedReport:
    anchored: AnchoredReport
    alerts: list[OutbreakAlert]
    cid: str
    suppressed_cells: int
    published_cells: int


class PublicHealthService:
    def __init__(self, identity: Identity, clients: RecordClients, sender: TransactionSender, division: str = "", cases: AuthoredCases | None = None) -> None:
        self.identity = identity
        self.clients = clients
        self.sender = sender
        self.division = division.strip().upper()
        self.ph = PublicHealthReports(clients.ledger)
        self.cases = cases or AuthoredCases(identity, clients)

    @property
    def address(self) -> str:
        return self.identity.address

    def region(self) -> str:
        member = self.clients.registry.member(self.address)
        if member is None:
            raise PublicHealthError(_("{member} is not a consortium member").format(member=self.address))
        return member.country + (f"-{self.division}" if self.division else "")

    # ------------------------------------------------------------------ building
    def counts(self, week: int, region: str) -> dict[Key, int]:
        counts: dict[Key, int] = {}
        for case in self.cases.all():
            if case.week == week:
                key = (case.disease, region, case.age_band, case.sex)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def build(self, week: int, correction: bool = False) -> BuiltReport:
        """The week's report as it would be anchored now (nothing is sent)."""
        _check_week(week)
        region = self.region()
        k = self.ph.parameters().k
        earlier = [r for r in self.ph.reports(member=self.address, week=week)]
        if earlier and not correction:
            raise PublicHealthError(_("week {week} is already reported (report {report}); send a correction instead").format(week=week, report=earlier[-1].report_id))
        if correction and not earlier:
            raise PublicHealthError(_("week {week} has no report to correct").format(week=week))
        earlier_values = [self.read(r)[3] for r in earlier]
        counts = self.counts(week, region)
        published = suppress(counts, k, earlier_values)
        return BuiltReport(week=week, region=region, published=published, report=measure_report(self.address, week, published),
                           counts=full_table(counts), earlier=[r.report_id for r in earlier])

    def submit(self, week: int, correction: bool = False) -> SubmittedReport:
        built = self.build(week, correction)
        return self.anchor(built)

    def anchor(self, built: BuiltReport) -> SubmittedReport:
        """Seal or publish the built report, add it to IPFS, anchor it and raise its rule alerts (one transaction)."""
        params = self.ph.parameters()
        check_publishable(built.published.values, params.k)
        data = self._seal(built) if params.encrypted else built.payload
        cid = self.clients.objects.add(data)
        anchor = ReportAnchor(
            week=built.week, content_hash=hashlib.sha256(data).digest(), cid=cid_to_bytes(cid), supersedes=built.earlier[-1] if built.earlier else 0,
            is_correction=bool(built.earlier), encrypted=params.encrypted, k=built.published.k, rule_alerts=self.rule_alerts(built),
        )
        anchored, alerts = self.ph.submit_report(self.sender, anchor)
        return SubmittedReport(anchored=anchored, alerts=alerts, cid=cid, suppressed_cells=len(built.published.suppressed()),
                               published_cells=len(built.published.published()))

    # ------------------------------------------------------------------ rules
    def rule_alerts(self, built: BuiltReport) -> list[RuleAlertInput]:
        """Immediately notifiable diseases with a case this week; weekly counts above mean + 2 sd of the previous 8 weeks
        (and at least k, so an alert never points at a small number). An alert already raised by this institution for
        the same disease, week and rule is not raised again (a correction)."""
        raised = {(a.disease, a.rule) for a in self.ph.alerts() if a.raised_by == self.address and a.week == built.week}
        country, _, division = built.region.partition("-")
        totals = {d: v for (d, r, a, s), v in built.counts.items() if a == ALL and s == ALL and v > 0}
        history = self._weekly_totals(previous_weeks(built.week, BASELINE_WEEKS))
        out: list[RuleAlertInput] = []
        for disease, count in sorted(totals.items()):
            known = by_code(disease)
            if known is not None and known.immediate and (disease, RULE_IMMEDIATE) not in raised:
                out.append(RuleAlertInput(disease=disease, country=country, division=division, level=3, rule=RULE_IMMEDIATE))
            past = [history.get((disease, w), 0) for w in previous_weeks(built.week, BASELINE_WEEKS)]
            if count >= built.published.k and count > baseline(past) and (disease, RULE_BASELINE) not in raised:
                out.append(RuleAlertInput(disease=disease, country=country, division=division, level=2, rule=RULE_BASELINE))
        return out

    def _weekly_totals(self, weeks: list[int]) -> dict[tuple[str, int], int]:
        wanted = set(weeks)
        totals: dict[tuple[str, int], int] = {}
        for case in self.cases.all():
            if case.week in wanted:
                totals[(case.disease, case.week)] = totals.get((case.disease, case.week), 0) + 1
        return totals

    # ------------------------------------------------------------------ reading reports
    def read(self, anchored: AnchoredReport) -> tuple[str, int, int, dict[Key, int | None]]:
        """A report's (member, week, k, published values): fetched by its CID, checked against the anchored sha256,
        opened with this institution's key when sealed. PublicHealthError when it cannot be read here."""
        data = self.clients.ipfs.cat(cid_to_text(anchored.cid))
        if hashlib.sha256(data).digest() != anchored.content_hash:
            raise PublicHealthError(_("report {report}: the payload does not match its anchor").format(report=anchored.report_id))
        if anchored.encrypted:
            try:
                obj = RecordObject.decode(data)
                wrap = obj.wrap_for(self.address)
                if wrap is None:
                    raise PublicHealthError(_("report {report} is not sealed to this institution").format(report=anchored.report_id))
                data = obj.open(self.identity.hpke_key, wrap)
            except CryptoError as exc:
                raise PublicHealthError(_("report {report} cannot be opened: {error}").format(report=anchored.report_id, error=str(exc))) from None
        member, week, k, values = parse(json.loads(data))
        if member != anchored.member or week != anchored.week:
            raise PublicHealthError(_("report {report} names another member or week than its anchor").format(report=anchored.report_id))
        return member, week, k, values

    def _seal(self, built: BuiltReport) -> bytes:
        recipients = {m.address: bytes.fromhex(m.hpke_public_key.removeprefix("0x")) for m in self.clients.registry.directory()
                      if m.active and Role.PUBLIC_HEALTH.name in m.roles}
        recipients[self.address] = self.identity.hpke_public_key.to_bytes()
        payload = built.payload
        context_id = hashlib.sha256(b"healthsilk/publichealth/report" + bytes.fromhex(self.address[2:]) + built.week.to_bytes(4, "big") + hashlib.sha256(payload).digest()).digest()
        obj, _key = seal_record(payload, record_id=context_id, patient=self.address, author=self.address, category=REPORT_CATEGORY,
                                version=len(built.earlier) + 1, recipients=recipients)
        return obj.encode()


def baseline(past: list[int]) -> float:
    """The alert threshold over the previous weeks' counts: mean + 2 standard deviations (population)."""
    if not past:
        return 0.0
    return statistics.fmean(past) + 2 * statistics.pstdev(past)


def check_publishable(values: dict[Key, int | None], k: int) -> None:
    """Refuses a payload with a published count in 1..k-1."""
    small = sorted(key for key, v in values.items() if v is not None and 0 < v < k)
    if small:
        raise PublicHealthError(_("the report publishes {count} count(s) below k={k}; nothing was anchored").format(count=len(small), k=k))


def _check_week(week: int) -> None:
    try:
        week_start(week)
    except ValueError:
        raise PublicHealthInputError(_("{week} is not an ISO week since 2000 (year * 100 + week, e.g. 202650)").format(week=week)) from None


def dashboard_of(service: PublicHealthService, first_week: int, last_week: int) -> Dashboard:
    """The dashboard as this institution (a PUBLIC_HEALTH member) sees it."""
    _check_week(first_week)
    _check_week(last_week)
    if week_start(first_week) > week_start(last_week):
        raise PublicHealthInputError(_("the first week {first} is after the last week {last}").format(first=first_week, last=last_week))
    if len(week_range(first_week, last_week)) > MAX_DASHBOARD_WEEKS:
        raise PublicHealthInputError(_("a dashboard spans at most {weeks} weeks").format(weeks=MAX_DASHBOARD_WEEKS))
    ph = service.ph
    acks = ph.acknowledgements()
    alerts = [alert_line(a.alert_id, a.disease, place(a), a.week, a.level, a.rule, len(acks.get(a.alert_id, [])))
              for a in ph.alerts() if week_start(first_week) <= week_start(a.week) <= week_start(last_week)]
    return build_dashboard(first_week, last_week, ph.parameters().k, ph.reports(), service.clients.registry.directory(), service.read, alerts)
