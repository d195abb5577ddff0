"""The dashboard model and page from anchored reports: sums per country, suppression marks (withheld / lower bound),
weeks a member owed and did not report, late reports; the page is one HTML document with inline SVG and no script."""

from __future__ import annotations

from care.publichealth.dashboard import build_dashboard, render_html
from care.publichealth.suppression import ALL
from ledger.publichealth import AnchoredReport, week_start
from ledger.registry import Member

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20


def member(address: str, country: str, admitted_week: int) -> Member:
    return Member(address=address, name=f"Hospital {address[2:4]}", country=country, roles=["PROVIDER"], hpke_public_key="0x", endpoint="",
                  status="ACTIVE", admitted_at=week_start(admitted_week), updated_at=0)


def report(rid: int, who: str, week: int, late: bool = False, correction: bool = False) -> AnchoredReport:
    return AnchoredReport(report_id=rid, member=who, week=week, content_hash=b"\x01" * 32, cid=b"\x01", supersedes=rid - 1 if correction else 0,
                          is_correction=correction, encrypted=True, k=5, late=late, block_number=rid, transaction_hash="0x")


PAYLOADS = {
    1: {("B50", "BJ-MO", ALL, ALL): 7, ("A00", "BJ-MO", ALL, ALL): None},
    2: {("B50", "BJ", ALL, ALL): None},
    3: {("B50", "CN", ALL, ALL): 9},
    4: {("B50", "BJ-MO", ALL, ALL): 6, ("A00", "BJ-MO", ALL, ALL): None},
    5: {("B50", "BJ-MO", ALL, ALL): 12, ("A00", "BJ-MO", ALL, ALL): None},  # the correction of 4
}


def read(r: AnchoredReport) -> tuple[str, int, int, dict]:
    if r.report_id == 2 and r.member == "broken":
        raise ValueError("cannot open")
    return r.member, r.week, 5, PAYLOADS[r.report_id]


def test_dashboard_sums_marks_and_missing_weeks() -> None:
    reports = [report(1, A, 202648), report(2, B, 202648, late=True), report(3, C, 202649), report(4, A, 202649), report(5, A, 202649, correction=True)]
    members = [member(A, "BJ", 202601), member(B, "BJ", 202601), member(C, "CN", 202649)]
    board = build_dashboard(202648, 202649, 5, reports, members, read, [])
    series = {(s.disease, s.country): s.points for s in board.series}
    w48, w49 = series[("B50", "BJ")]
    assert (w48.count, w48.partial, w48.suppressed) == (7, True, False), "A published 7, B's total is suppressed: a lower bound"
    assert (w49.count, w49.partial) == (12, False), "the correction replaces the report it corrects"
    assert series[("A00", "BJ")][0].suppressed and series[("A00", "BJ")][0].count is None
    assert [p.count for p in series[("B50", "CN")]] == [0, 9]
    lines = {m.member: m for m in board.members}
    assert lines[A].missing == [] and lines[B].missing == [202649] and lines[B].late == [202648]
    assert lines[C].missing == [], "admitted in week 49: it owed nothing for week 48"
    page = render_html(board)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == len(board.series) and "<script" not in page
    assert "&lt;k" in page and "≥7" in page


def test_page_names_alert_levels_and_rules_in_words() -> None:
    """An alert's level and rule are shown in words (the rule's code stays in the cell's title for staff)."""
    from care.publichealth.dashboard import alert_line
    from ledger.publichealth import RULE_BASELINE, RULE_IMMEDIATE

    alerts = [alert_line(1, "A00", "BJ-MO", 202649, 3, RULE_IMMEDIATE, 0), alert_line(2, "B50", "CN", 202649, 2, RULE_BASELINE, 1),
              alert_line(3, "B50", "BJ", 202649, 1, RULE_BASELINE, 0)]
    page = render_html(build_dashboard(202648, 202649, 5, [], [], read, alerts))
    assert "<td>immediately notifiable disease</td>" not in page, "the cell carries the code in its title"
    assert '<td title="immediately-notifiable">immediately notifiable disease</td>' in page
    assert '<td title="above-baseline">above the baseline</td>' in page
    assert "<td>critical</td>" in page and "<td>information</td>" in page and "<td>info</td>" not in page
