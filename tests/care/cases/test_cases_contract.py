"""ReferralCases on chain (issue 12): the lifecycle, what the case consent covers, and every bad input refused
without a state change. Real anvil chain, real contracts, real signatures."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from ledger.cases import (
    CaseState,
    ConsultantStatus,
    DeclineReason,
    ItemKind,
    Priority,
    case_id_of,
    consultants_of,
)
from ledger.errors import ContractRevert
from ledger.vocabulary import Category
from tests.care.cases.conftest import CONSULTANTS, OUTSIDER, REQUESTER, CaseWorld
from tests.support.chain_clock import warp

C1, C2, C3 = CONSULTANTS


def refused(name: str, action) -> ContractRevert:  # type: ignore[no-untyped-def]
    with pytest.raises(ContractRevert) as caught:
        action()
    assert caught.value.name == name, f"expected {name}, got {caught.value}"
    return caught.value


def test_one_to_one_case_from_opening_to_closing(world: CaseWorld) -> None:
    opened, request, records = world.open_case(priority=Priority.URGENT)
    case_id = opened.case_id
    assert case_id == case_id_of(REQUESTER.address, request, records, [C1.address], Priority.URGENT), "the id commits to the case"
    case = world.cases.get(case_id)
    assert case is not None and case.state == CaseState.OPEN and case.patient == world.patient.address and case.requester == REQUESTER.address
    assert case.deadline - case.opened_at == 86400 and (case.consultant_count, case.attached_count) == (1, 2)
    (event,) = world.cases.opened(caseId=case_id)
    assert list(event.args["attachedIds"]) == records and event.args["requestId"] == request
    assert consultants_of(event.args["consultants"]) == [C1.address] and world.cases.invitations(C1.address) == [case_id]

    # Nothing is readable before both the patient and the consultant said yes.
    assert not world.cases.may_read(C1.address, case_id, records[0])
    world.cases.accept(world.send(C1), case_id)
    assert not world.cases.may_read(C1.address, case_id, records[0]), "accepted but not approved"
    world.approve(case_id)
    case = world.cases.get(case_id)
    assert case is not None and case.state == CaseState.APPROVED and case.consent_until > world.now()
    for record in (request, *records):
        assert world.cases.may_read(C1.address, case_id, record)
    assert not world.cases.may_read(C2.address, case_id, records[0]), "not a consultant of the case"
    assert not world.cases.may_read(REQUESTER.address, case_id, records[0]), "the requester reads answers, not its attachments"
    outside = world.anchor(REQUESTER, Category.ECG)
    assert not world.cases.may_read(C1.address, case_id, outside)
    refused("ReadNotAuthorised", lambda: world.cases.records_accessed(world.send(C1), case_id, [records[0], outside]))
    logged = world.cases.records_accessed(world.send(C1), case_id, records)
    (access,) = world.cases.events("CareRecordsAccessed", ref=case_id)
    assert access.args["reader"] == C1.address and access.args["purpose"] == 1 and list(access.args["recordIds"]) == records
    assert access.block_number == logged.block_number

    # The answer: anchored by the consultant under its consent, then linked; the requester reads it.
    report = world.anchor(C1, Category.REFERRAL)
    world.cases.answer(world.send(C1), case_id, report)
    consultant = world.cases.consultant(case_id, C1.address)
    assert consultant.status == ConsultantStatus.ANSWERED and consultant.answers == 1 and consultant.answered_at >= consultant.accepted_at > 0
    assert world.cases.item(case_id, report).kind == ItemKind.ANSWER
    assert world.cases.may_read(REQUESTER.address, case_id, report) and world.cases.may_read(C1.address, case_id, report)
    world.cases.records_accessed(world.send(REQUESTER), case_id, [report])

    world.cases.close(world.send(REQUESTER), case_id)
    case = world.cases.get(case_id)
    assert case is not None and case.state == CaseState.CLOSED and case.closed_at > 0
    assert not world.cases.may_read(C1.address, case_id, records[0]) and not world.cases.may_read(REQUESTER.address, case_id, report)
    refused("ReadNotAuthorised", lambda: world.cases.records_accessed(world.send(C1), case_id, records))
    refused("InvalidCaseState", lambda: world.cases.close(world.send(REQUESTER), case_id))
    late = world.anchor(C1, Category.REFERRAL)
    refused("InvalidCaseState", lambda: world.cases.answer(world.send(C1), case_id, late))
    names = [e.name for e in world.cases.history(case_id)]
    assert names == ["CaseOpened", "CaseAccepted", "CaseApproved", "CaseAnswered", "CaseClosed"]


def test_bad_openings_are_refused_and_change_nothing(world: CaseWorld) -> None:
    request = world.anchor(REQUESTER, Category.REFERRAL)
    ecg = world.anchor(REQUESTER, Category.ECG)
    send = world.send(REQUESTER)

    def attempt(name: str, request_id: bytes, attached: list[bytes], consultants: list[str]) -> None:
        refused(name, lambda: world.cases.open(send, request_id, Priority.ROUTINE, attached, consultants))
        assert world.cases.get(case_id_of(REQUESTER.address, request_id, attached, consultants, Priority.ROUTINE)) is None

    attempt("NotActiveMember", request, [ecg], [OUTSIDER.address])
    attempt("InvalidConsultant", request, [ecg], [REQUESTER.address])
    attempt("InvalidConsultant", request, [ecg], [C1.address, C1.address])
    attempt("InvalidConsultantCount", request, [ecg], [])
    attempt("InvalidConsultantCount", request, [ecg], [Account.create().address for _ in range(9)])
    attempt("InvalidAttachedCount", request, [os.urandom(32) for _ in range(33)], [C1.address])
    attempt("UnknownRecord", request, [os.urandom(32)], [C1.address])
    attempt("DuplicateRecord", request, [ecg, ecg], [C1.address])
    attempt("NotCaseRequest", ecg, [], [C1.address])  # an ECG is not a ServiceRequest
    other = Account.create()
    world.consent(REQUESTER, Category.ECG.bit | Category.REFERRAL.bit, patient=other)
    attempt("NotPatientRecord", request, [world.anchor(REQUESTER, Category.ECG, patient=other)], [C1.address])
    # A request the caller did not author.
    world.consent(C1, Category.REFERRAL.bit)
    foreign_request = world.anchor(C1, Category.REFERRAL)
    attempt("NotCaseRequest", foreign_request, [ecg], [C2.address])
    # An erased record.
    erased = world.anchor(REQUESTER, Category.ECG)
    message = world.records.erasure_message(world.patient.address, erased, deadline=world.now() + 600)
    world.records.relay_erasure(world.send(REQUESTER), message, message.sign(world.patient))
    attempt("RecordIsErased", request, [erased], [C1.address])
    # A suspended consultant.
    proposer, approver = world.ledger.sender(world.net.governors[0]), world.ledger.sender(world.net.governors[1])
    world.registry.approve(approver, world.registry.propose_suspension(proposer, C3.address, "audit"))
    attempt("NotActiveMember", request, [ecg], [C3.address])
    # The same case twice.
    opened = world.cases.open(send, request, Priority.ROUTINE, [ecg], [C1.address])
    refused("CaseExists", lambda: world.cases.open(send, request, Priority.ROUTINE, [ecg], [C1.address]))
    assert world.cases.get(opened.case_id) is not None


def test_approval_signatures(world: CaseWorld) -> None:
    opened, _request, _records = world.open_case()
    case_id = opened.case_id
    now = world.now()
    stranger = Account.create()

    def relay(signer, until: int = now + 86400, deadline: int = now + 600, nonce: int | None = None, relayer=REQUESTER):  # type: ignore[no-untyped-def]
        message = world.cases.approve_message(case_id, until=until, deadline=deadline, signer=signer.address, nonce=nonce)
        return lambda: world.cases.relay(world.send(relayer), message, message.sign(signer))

    refused("UnauthorizedSigner", relay(stranger))
    refused("ExpiredSignature", relay(world.patient, deadline=now - 1))
    refused("InvalidConsentEnd", relay(world.patient, until=now + 200 * 86400))
    refused("NotRequester", relay(world.patient, relayer=C1))
    refused("NotPatient", lambda: world.cases.approve(world.send(C1), case_id, now + 86400))
    assert world.cases.get(case_id).state == CaseState.OPEN  # type: ignore[union-attr]
    signed = world.cases.approve_message(case_id, until=now + 86400, deadline=now + 600, signer=world.patient.address)
    signature = signed.sign(world.patient)
    world.cases.relay(world.send(REQUESTER), signed, signature)
    assert world.cases.get(case_id).state == CaseState.APPROVED  # type: ignore[union-attr]
    refused("InvalidCaseState", lambda: world.cases.relay(world.send(REQUESTER), signed, signature))  # replayed

    # A second case: the replayed nonce is spent; the delegate may refuse for the patient.
    second, _r, _a = world.open_case(consultants=[C2])
    replay = world.cases.approve_message(second.case_id, until=now + 86400, deadline=now + 600, signer=world.patient.address, nonce=signed.message["nonce"])
    refused("InvalidAccountNonce", lambda: world.cases.relay(world.send(REQUESTER), replay, replay.sign(world.patient)))
    delegate = Account.create()
    set_delegate = world.consents.delegate_message(world.patient.address, delegate.address, deadline=world.now() + 600)
    world.consents.relay(world.send(REQUESTER), set_delegate, set_delegate.sign(world.patient))
    refusal = world.cases.refuse_message(second.case_id, deadline=world.now() + 600, signer=delegate.address)
    world.cases.relay(world.send(REQUESTER), refusal, refusal.sign(delegate))
    assert world.cases.get(second.case_id).state == CaseState.REFUSED  # type: ignore[union-attr]
    (event,) = world.cases.events("CaseRefused", caseId=second.case_id)
    assert event.args["signer"] == delegate.address
    refused("InvalidCaseState", lambda: world.cases.accept(world.send(C2), second.case_id))


def test_panel_answers_stay_apart_until_shared(world: CaseWorld) -> None:
    opened, _request, records = world.open_case(consultants=[C1, C2, C3], attached=1, priority=Priority.STAT)
    case_id = opened.case_id
    world.approve(case_id)
    world.cases.accept(world.send(C1), case_id)
    world.cases.accept(world.send(C2), case_id)
    world.cases.decline(world.send(C3), case_id, DeclineReason.OUT_OF_SPECIALTY)
    (declined,) = world.cases.events("CaseDeclined", caseId=case_id)
    assert declined.args["reason"] == DeclineReason.OUT_OF_SPECIALTY
    assert not world.cases.may_read(C3.address, case_id, records[0]), "a declining consultant reads nothing"

    a1, a2, a3 = (world.anchor(c, Category.REFERRAL) for c in (C1, C2, C3))
    refused("InvalidConsultantStatus", lambda: world.cases.answer(world.send(C3), case_id, a3))
    refused("NotRecordAuthor", lambda: world.cases.answer(world.send(C1), case_id, a2))
    # Both answers in flight at once: both land.
    hashes = [world.send(c).submit(world.cases.contract.functions.answer(case_id, a)) for c, a in ((C1, a1), (C2, a2))]
    receipts = [world.ledger.w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert all(r["status"] == 1 for r in receipts)
    assert {e.args["recordId"] for e in world.cases.events("CaseAnswered", caseId=case_id)} == {a1, a2}

    assert world.cases.may_read(REQUESTER.address, case_id, a1) and world.cases.may_read(REQUESTER.address, case_id, a2)
    assert not world.cases.may_read(C2.address, case_id, a1), "a panel member does not see another's answer"
    refused("NotConsultant", lambda: world.cases.share(world.send(REQUESTER), case_id, a1, [OUTSIDER.address]))
    refused("NotRequester", lambda: world.cases.share(world.send(C1), case_id, a1, [C2.address]))
    refused("NotShareable", lambda: world.cases.share(world.send(REQUESTER), case_id, records[0], [C3.address]))
    world.cases.share(world.send(REQUESTER), case_id, a1, [C2.address])
    assert world.cases.may_read(C2.address, case_id, a1) and not world.cases.may_read(C2.address, case_id, a3)

    # The panel conclusion (a requester record) is linked and shared the same way.
    conclusion = world.anchor(REQUESTER, Category.REFERRAL)
    world.cases.share(world.send(REQUESTER), case_id, conclusion, [C1.address, C2.address])
    assert world.cases.item(case_id, conclusion).kind == ItemKind.NOTE
    assert world.cases.may_read(C1.address, case_id, conclusion) and not world.cases.may_read(C3.address, case_id, conclusion)

    # The consent runs out: reads are refused although the case is still open.
    case = world.cases.get(case_id)
    assert case is not None and not case.overdue(case.deadline) and case.overdue(case.deadline + 1)
    warp(world.net, case.consent_until - world.now() + 1)
    assert not world.cases.may_read(C1.address, case_id, records[0]) and not world.cases.may_read(REQUESTER.address, case_id, a1)


def test_answers_must_be_written_for_the_case(world: CaseWorld) -> None:
    early = world.anchor(C1, Category.REFERRAL)
    warp(world.net, 5)
    opened, _request, _records = world.open_case()
    world.approve(opened.case_id)
    report = world.anchor(C1, Category.REFERRAL)
    refused("NotConsultant", lambda: world.cases.answer(world.send(C2), opened.case_id, report))
    refused("InvalidConsultantStatus", lambda: world.cases.answer(world.send(C1), opened.case_id, report))  # never accepted
    world.cases.accept(world.send(C1), opened.case_id)
    refused("RecordBeforeCase", lambda: world.cases.answer(world.send(C1), opened.case_id, early))
    refused("NotRecordAuthor", lambda: world.cases.answer(world.send(C1), opened.case_id, _records[0]))
    world.cases.answer(world.send(C1), opened.case_id, report)
    refused("DuplicateRecord", lambda: world.cases.answer(world.send(C1), opened.case_id, report))


def case_gas(world: CaseWorld) -> dict[str, int]:
    """Gas of a 3-record, 2-consultant case, and of the generic way: per consultant one relayed consent grant and one
    anchor (shared with bench.cases)."""
    request = world.anchor(REQUESTER, Category.REFERRAL)
    records = [world.anchor(REQUESTER, Category.ECG) for _ in range(3)]
    opened = world.cases.open(world.send(REQUESTER), request, Priority.URGENT, records, [C1.address, C2.address])
    approved = world.approve(opened.case_id)
    fresh = Account.create()
    now = world.now()
    from ledger.consent import ConsentTerms
    from ledger.vocabulary import Purpose

    terms = ConsentTerms(grantee=C1.address, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400)
    message = world.consents.grant_message(fresh.address, terms, deadline=now + 600)
    grant = world.send(REQUESTER).transact(world.consents.contract.functions.grantConsentBySig(fresh.address, terms.as_tuple(), message.message["nonce"], message.message["deadline"], message.sign(fresh)))
    from ledger.records import NewRecord
    from tests.care.cases.conftest import cid

    record = NewRecord(record_id=os.urandom(32), patient=world.patient.address, category=int(Category.ECG), content_hash=os.urandom(32), cid=cid())
    anchor = world.send(REQUESTER).transact(world.records.contract.functions.anchorRecord(record.as_tuple()))
    return {"open_gas": opened.gas_used, "approve_gas": approved.gas_used, "grant_gas": grant["gasUsed"], "anchor_gas": anchor["gasUsed"]}


def test_opening_and_approval_cost_less_than_a_grant_and_an_anchor_per_consultant(world: CaseWorld) -> None:
    gas = case_gas(world)
    budget = 2 * (gas["grant_gas"] + gas["anchor_gas"])
    print(f"\ncase gas: {gas}, budget {budget}")
    assert gas["open_gas"] + gas["approve_gas"] < budget, f"{gas} over the budget {budget}"
