"""The audit's referral-case rules (issue 12): a real replay of cases on anvil is clean and gives the turnaround
figures; each rule flags the event that breaks it (events the contract would refuse, judged against the replayed
state, as a tampered or buggy chain would present them)."""

from __future__ import annotations

from typing import Any

from ledger.audit import AuditOptions, run_audit
from ledger.audit.fetch import ChainEvent
from ledger.audit.flow_cases import FAMILY
from ledger.audit.flows import FlowContext
from ledger.audit.html import render_html
from ledger.cases import DeclineReason, Priority
from ledger.vocabulary import Category
from tests.care.cases.conftest import CONSULTANTS, REQUESTER, CaseWorld
from tests.support.chain_clock import warp

C1, C2, C3 = CONSULTANTS


def _story(world: CaseWorld) -> tuple[bytes, bytes, list[bytes], bytes]:
    """A one-to-one case answered and closed, and a panel (one accepts and answers, one declines) left open."""
    one, _request, records = world.open_case(consultants=[C1], priority=Priority.URGENT)
    world.approve(one.case_id)
    warp(world.net, 600)
    world.cases.accept(world.send(C1), one.case_id)
    world.cases.records_accessed(world.send(C1), one.case_id, records)
    warp(world.net, 3000)
    report = world.anchor(C1, Category.REFERRAL)
    world.cases.answer(world.send(C1), one.case_id, report)
    world.cases.records_accessed(world.send(REQUESTER), one.case_id, [report])
    world.cases.close(world.send(REQUESTER), one.case_id)

    panel, _r, panel_records = world.open_case(consultants=[C2, C3], priority=Priority.STAT)
    world.approve(panel.case_id)
    world.cases.accept(world.send(C2), panel.case_id)
    world.cases.decline(world.send(C3), panel.case_id, DeclineReason.BUSY)
    world.cases.records_accessed(world.send(C2), panel.case_id, panel_records)
    warp(world.net, 3 * 3600)  # past the stat deadline without an answer: overdue
    return one.case_id, panel.case_id, records, report


def _case_violations(result: Any) -> list[Any]:
    return [v for v in result.violations if v.rule.startswith("case-")]


def test_a_clean_replay_with_turnaround_figures(world: CaseWorld) -> None:
    one, panel, _records, _report = _story(world)
    result = run_audit(world.ledger, AuditOptions())
    assert _case_violations(result) == []
    section = result.report["report"]["flows"]["cases"]
    assert section["cases"] == 2 and section["closed"] == 1 and section["answers"] == 1 and section["overdue"] == 1
    by_case = {row["case_id"]: row for row in section["per_case"]}
    first = by_case["0x" + one.hex()]
    assert first["reads"] == 3 and not first["overdue"]
    assert 600 <= first["seconds_to_accept"][C1.address] < first["seconds_to_answer"][C1.address]
    assert by_case["0x" + panel.hex()]["overdue"] and by_case["0x" + panel.hex()]["seconds_to_answer"] == {}
    pairs = {p["pair"]: p for p in section["per_country_pair"]}
    assert set(pairs) == {"BJ->CN"} and pairs["BJ->CN"]["cases"] == 3 and pairs["BJ->CN"]["overdue"] == 2
    page = render_html(result.report)
    assert "Teleconsultation referral cases" in page and "BJ-&gt;CN" in page


def test_each_rule_flags_what_breaks_it(world: CaseWorld) -> None:
    one, panel, records, report = _story(world)
    result = run_audit(world.ledger, AuditOptions())
    state = result.state
    flagged: list[tuple[str, str]] = []
    ctx = FlowContext(state, state.flows["cases"], lambda rule, text, subject="": flagged.append((rule, text)), lambda *_: True)
    end = world.now()

    def judge(name: str, **args: Any) -> list[str]:
        flagged.clear()
        FAMILY.check(ctx, ChainEvent(name, args, "ReferralCases", 10**9, "0x00", 0, end))
        return [rule for rule, _text in flagged]

    stranger = world.patient.address.replace(world.patient.address[2:6], "dead")
    other_record = world.anchor(REQUESTER, Category.ECG)
    # Reads: after closing; outside the attached records; a declining consultant; the requester reading attachments.
    assert judge("CareRecordsAccessed", patient=world.patient.address, reader=C1.address, ref=one, purpose=1, recordIds=(records[0],)) == ["case-read"]
    assert judge("CareRecordsAccessed", patient=world.patient.address, reader=C2.address, ref=panel, purpose=1, recordIds=(other_record,)) == ["case-read"]
    assert judge("CareRecordsAccessed", patient=world.patient.address, reader=C3.address, ref=panel, purpose=1, recordIds=(records[0],)) == ["case-read"]
    panel_request = state.flows["cases"]["cases"]["0x" + panel.hex()]["request"]
    assert judge("CareRecordsAccessed", patient=world.patient.address, reader=REQUESTER.address, ref=panel, purpose=1, recordIds=(bytes.fromhex(panel_request[2:]),)) == ["case-read"]
    assert judge("CareRecordsAccessed", patient=world.patient.address, reader=C2.address, ref=panel, purpose=1, recordIds=(bytes.fromhex(panel_request[2:]),)) == []
    # Answers: from a consultant that declined; after closing; a record the consultant did not write.
    assert judge("CaseAnswered", caseId=panel, consultant=C3.address, recordId=report, category=10) == ["case-answer", "case-answer"]
    assert "case-answer" in judge("CaseAnswered", caseId=one, consultant=C1.address, recordId=report, category=10)
    assert judge("CaseAnswered", caseId=panel, consultant=C2.address, recordId=report, category=10) == ["case-answer"]
    # Approvals by someone other than the patient or the delegate.
    assert judge("CaseRefused", caseId=panel, patient=world.patient.address, signer=stranger) == ["case-approval"]
    # Opening with another patient's record.
    assert "case-open" in judge("CaseOpened", caseId=b"\x01" * 32, patient=stranger, requester=REQUESTER.address, requestId=b"\x02" * 32,
                                 priority=0, deadline=end, attachedIds=(records[0],), consultants=b"\x00" * 12 + bytes.fromhex(C1.address[2:]))
    # Inviting the requester itself as consultant.
    assert judge("CaseOpened", caseId=b"\x03" * 32, patient=world.patient.address, requester=REQUESTER.address, requestId=bytes.fromhex(panel_request[2:]),
                 priority=0, deadline=end, attachedIds=(), consultants=b"\x00" * 12 + bytes.fromhex(REQUESTER.address[2:])) == ["case-open"]
