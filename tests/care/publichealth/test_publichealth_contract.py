"""PublicHealthReports on anvil: governed parameters, weekly anchors, corrections, late/missing weeks, alerts.

Every refusal (non-member, future week, duplicate, wrong mode, threshold below k, alert without the role) is a
named custom error and changes no state.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractCustomError

from crypto import HpkePrivateKey
from ledger.chain import Ledger
from ledger.errors import ContractRevert
from ledger.publichealth import (
    PublicHealthReports,
    ReportAnchor,
    RuleAlertInput,
    iso_week,
    previous_weeks,
    week_start,
)
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from tests.conftest import RunningNetwork, throwaway_account
from tests.support.chain_clock import chain_now, operator_call, warp

CLINIC = throwaway_account("publichealth/clinic")
MINISTRY = throwaway_account("publichealth/ministry")
OUTSIDER = throwaway_account("publichealth/outsider")


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    ph: PublicHealthReports

    def sender(self, account: LocalAccount) -> TransactionSender:
        return self.ledger.sender(account)

    def now(self) -> int:
        return chain_now(self.ledger.w3)

    def anchor(self, week: int, **fields: object) -> ReportAnchor:
        base: dict[str, object] = {"week": week, "content_hash": hashlib.sha256(os.urandom(8)).digest(), "cid": b"\x01\x55\x12\x20" + os.urandom(32)}
        return ReportAnchor(**(base | fields))

    def state(self, member: str, week: int) -> tuple[int, int, int]:
        f = self.ph.contract.functions
        return f.reportCount().call(), f.alertCount().call(), f.latestReport(member, week).call()


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[World]:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    proposer, approver = ledger.sender(chain.governors[0]), ledger.sender(chain.governors[1])
    for account, name, roles in ((CLINIC, "Clinic", ["PROVIDER"]), (MINISTRY, "Ministry", ["PUBLIC_HEALTH"])):
        application = MemberApplication(address=account.address, name=name, country="BJ", roles=roles, hpke_public_key=HpkePrivateKey.generate().public_key().to_bytes())
        assert registry.approve(approver, registry.propose_admission(proposer, application))
    yield World(chain, ledger, PublicHealthReports(ledger))


def test_week_start_matches_python(world: World) -> None:
    for week in (200001, 202001, 202053, 202101, 202652, 202653 - 1, 203701):
        assert world.ph.contract.functions.weekStart(week).call() == week_start(week)
    with pytest.raises(ContractCustomError):
        world.ph.contract.functions.weekStart(202153).call()  # 2021 had 52 ISO weeks
    with pytest.raises(ValueError):
        week_start(202153)


def test_report_then_correction_keeps_the_earlier_visible(world: World) -> None:
    week = iso_week(world.now())
    first, alerts = world.ph.submit_report(world.sender(CLINIC), world.anchor(week))
    assert alerts == [] and first.report_id == 1 and not first.is_correction and not first.late
    assert world.ph.latest_report(CLINIC.address, week) == first.report_id

    with pytest.raises(ContractRevert) as refused:
        world.ph.submit_report(world.sender(CLINIC), world.anchor(week))
    assert refused.value.name == "DuplicateReport"
    with pytest.raises(ContractRevert) as refused:
        world.ph.submit_report(world.sender(CLINIC), world.anchor(week, is_correction=True, supersedes=first.report_id + 5))
    assert refused.value.name == "NotLatestReport"
    assert world.state(CLINIC.address, week) == (1, 0, first.report_id)

    second, _ = world.ph.submit_report(world.sender(CLINIC), world.anchor(week, is_correction=True, supersedes=first.report_id))
    assert second.supersedes == first.report_id and second.is_correction
    assert world.ph.latest_report(CLINIC.address, week) == second.report_id
    assert world.ph.report(first.report_id)["superseded_by"] == second.report_id
    assert [r.report_id for r in world.ph.reports(member=CLINIC.address, week=week)] == [first.report_id, second.report_id]


def test_refusals_change_nothing(world: World) -> None:
    week = iso_week(world.now())
    future = iso_week(world.now() + 8 * 86400)
    before = world.state(CLINIC.address, week)
    cases = {
        "FutureWeek": world.anchor(future),
        "NothingToCorrect": world.anchor(week, is_correction=True, supersedes=1),
        "PublicationModeMismatch": world.anchor(week, encrypted=False),
        "SuppressionBelowK": world.anchor(week, k=3),
        "EmptyReport": world.anchor(week, content_hash=b"\x00" * 32),
        "InvalidPlace": world.anchor(week, rule_alerts=[RuleAlertInput(disease="A00", country="bj", level=3, rule=1)]),
    }
    for name, anchor in cases.items():
        with pytest.raises((ContractRevert, ValueError)) as refused:
            world.ph.submit_report(world.sender(CLINIC), anchor)
        assert getattr(refused.value, "name", "ValueError") in (name, "ValueError"), name
    assert world.state(CLINIC.address, week) == before

    # A non-member (on the private port: the gateway would not even carry its transaction).
    operator_call(world.net.operator_w3, "anvil_setBalance", [OUTSIDER.address, hex(10**18)])
    outsider = TransactionSender(world.net.operator_w3, OUTSIDER, world.ph.decoder)
    with pytest.raises(ContractRevert) as refused:
        outsider.transact(world.ph.submit_function(world.anchor(week)))
    assert refused.value.name == "NotActiveMember"
    # An alert by hand from a member without PUBLIC_HEALTH.
    with pytest.raises(ContractRevert) as refused:
        world.ph.raise_alert(world.sender(CLINIC), "A00", "BJ", "MO", week, 3)
    assert refused.value.name == "MissingRole"
    assert world.state(CLINIC.address, week) == before


def test_late_and_missing_weeks_show(world: World) -> None:
    now = world.now()
    old_week, last_week = previous_weeks(iso_week(now), 2)
    late, _ = world.ph.submit_report(world.sender(CLINIC), world.anchor(old_week))
    assert late.late, "two weeks after, past the grace period"
    assert world.ph.latest_report(CLINIC.address, last_week) == 0, "missing: no report for last week"
    assert world.ph.latest_report(MINISTRY.address, old_week) == 0


def test_alerts_by_rule_by_hand_and_acknowledged(world: World) -> None:
    week = iso_week(world.now())
    cholera = RuleAlertInput(disease="A00", country="BJ", division="MO", level=3, rule=1)
    report, alerts = world.ph.submit_report(world.sender(CLINIC), world.anchor(week, rule_alerts=[cholera]))
    assert [(a.disease, a.country, a.division, a.rule, a.report_id, a.raised_by) for a in alerts] == [("A00", "BJ", "MO", 1, report.report_id, CLINIC.address)]
    manual = world.ph.raise_alert(world.sender(MINISTRY), "B54", "BJ", "", week, 2)
    assert manual.rule == 0 and manual.report_id == 0

    world.ph.acknowledge(world.sender(MINISTRY), alerts[0].alert_id)
    assert world.ph.is_acknowledged(alerts[0].alert_id, MINISTRY.address)
    with pytest.raises(ContractRevert) as refused:
        world.ph.acknowledge(world.sender(MINISTRY), alerts[0].alert_id)
    assert refused.value.name == "AlreadyAcknowledged"
    with pytest.raises(ContractRevert) as refused:
        world.ph.acknowledge(world.sender(MINISTRY), 99)
    assert refused.value.name == "UnknownAlert"
    assert world.ph.acknowledgements() == {alerts[0].alert_id: [MINISTRY.address]}


def test_parameters_need_two_governors(world: World) -> None:
    g0, g1 = world.sender(world.net.governors[0]), world.sender(world.net.governors[1])
    assert world.ph.parameters().k == 5 and world.ph.parameters().encrypted
    with pytest.raises(ContractRevert) as refused:
        world.ph.propose_parameters(world.sender(CLINIC), 10, False)
    assert refused.value.name == "MissingRole"
    with pytest.raises(ContractRevert) as refused:
        world.ph.propose_parameters(g0, 1, False)
    assert refused.value.name == "InvalidK"
    proposal = world.ph.propose_parameters(g0, 10, False)
    with pytest.raises(ContractRevert) as refused:
        world.ph.approve_parameters(g0, proposal)
    assert refused.value.name == "SecondGovernorRequired"
    assert world.ph.parameters().k == 5
    changed = world.ph.approve_parameters(g1, proposal)
    assert changed.k == 10 and not changed.encrypted and world.ph.parameters() == changed
    with pytest.raises(ContractRevert) as refused:
        world.ph.approve_parameters(g1, proposal)
    assert refused.value.name == "ProposalClosed"

    late = world.ph.propose_parameters(g0, 7, True)
    warp(world.net, 8 * 86400)
    with pytest.raises(ContractRevert) as refused:
        world.ph.approve_parameters(g1, late)
    assert refused.value.name == "ProposalClosed"
