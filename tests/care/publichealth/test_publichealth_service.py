"""The weekly report end to end on geth: a provider's own records (Conditions and a lab Observation, decrypted in
its own process) -> counts -> suppression -> sealed to the PUBLIC_HEALTH members -> anchored with its rule alerts;
the ministry reads it and its dashboard; a correction; refusals that change nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from care.publichealth import synthetic
from care.publichealth.alerts import OutbreakAlerts
from care.publichealth.service import (
    PublicHealthError,
    PublicHealthService,
    dashboard_of,
)
from care.publichealth.suppression import ALL
from crypto import HpkePrivateKey, Identity
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.publichealth import iso_week, previous_weeks
from ledger.vocabulary import Category, Purpose
from records import RecordClients, RecordService
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.members import admit_member

CATEGORIES = Category.SUMMARY.bit | Category.LAB.bit


@dataclass
class World:
    net: RunningNetwork
    ledger: Ledger
    records: RecordService
    provider: PublicHealthService
    ministry: PublicHealthService
    other: PublicHealthService

    def patient(self) -> Identity:
        patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
        consents = ConsentLedger(self.ledger)
        now = chain_now(self.ledger.w3)
        register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600)
        consents.relay(self.ledger.sender(self.net.governors[0]), register, register.sign(patient.account))
        terms = ConsentTerms(grantee=self.records.address, categories=CATEGORIES, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 86400)
        grant = consents.grant_message(patient.address, terms, deadline=now + 600)
        consents.relay(self.ledger.sender(self.net.governors[0]), grant, grant.sign(patient.account))
        return patient


@pytest.fixture(scope="module")
def world(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    net = geth_network
    ledger = net.ledger()
    lokossa = admit_member(net, "ph-service/lokossa", "Grand-Popo District Hospital", "BJ", ["PROVIDER"])
    ministry = admit_member(net, "ph-service/ministry", "Surveillance Unit", "BJ", ["PUBLIC_HEALTH"])
    other = admit_member(net, "ph-service/other", "Other Hospital", "CN", ["PROVIDER"])
    root: Path = tmp_path_factory.mktemp("ph-service")

    def clients() -> RecordClients:
        return RecordClients.open(ledger, net.settings.ipfs_url)

    records = RecordService(lokossa, clients(), root / "lokossa")
    w = World(
        net=net, ledger=ledger, records=records,
        provider=PublicHealthService(lokossa, clients(), ledger.sender(lokossa.account), division="MO"),
        ministry=PublicHealthService(ministry, clients(), ledger.sender(ministry.account)),
        other=PublicHealthService(other, clients(), ledger.sender(other.account)),
    )
    yield w
    records.close()


def test_weekly_report_sealed_anchored_read_and_alerted(world: World) -> None:
    now = chain_now(world.ledger.w3)
    week = iso_week(now)
    ages = [(1990, "female"), (1985, "female"), (1979, "female"), (2001, "male"), (1960, "male"), (2019, "female")]
    for birth_year, sex in ages:
        world.records.put(synthetic.malaria(now, sex, birth_year), world.patient().address)
    smear_patient = world.patient()
    world.records.put(synthetic.malaria_smear(now, "male", 2015), smear_patient.address)
    world.records.put(synthetic.malaria_smear(now, "male", 2015, positive=False), world.patient().address)  # negative: no case
    world.records.put(synthetic.cholera(now, "female", 1994), world.patient().address)

    built = world.provider.build(week)
    totals = {(d, r): v for (d, r, a, s), v in built.counts.items() if a == ALL and s == ALL}
    assert totals == {("B50", "BJ-MO"): 7, ("A00", "BJ-MO"): 1}
    published = built.published.values
    assert published[("B50", "BJ-MO", ALL, ALL)] == 7
    assert published[("A00", "BJ-MO", ALL, ALL)] is None, "one cholera case is a small cell"
    assert all(v is None or v == 0 or v >= 5 for v in published.values())
    text = built.payload.decode()
    for secret in [smear_patient.address, smear_patient.address.lower()[2:], "2015", "1994"]:
        assert secret not in text, "no patient, record or birth date in the report"

    sent = world.provider.submit(week)
    assert sent.anchored.encrypted and sent.anchored.k == 5 and sent.anchored.week == week
    # Cholera is immediately notifiable; 7 malaria cases are above mean + 2 sd of 8 quiet weeks (and at least k).
    assert [(a.disease, a.country, a.division, a.rule, a.level) for a in sent.alerts] == [("A00", "BJ", "MO", 1, 3), ("B50", "BJ", "MO", 2, 2)]
    # The ministry opens it; a provider that is not PUBLIC_HEALTH cannot.
    member, read_week, k, values = world.ministry.read(sent.anchored)
    assert (member, read_week, k) == (world.provider.address, week, 5) and values == published
    with pytest.raises(PublicHealthError):
        world.other.read(sent.anchored)
    data = world.ledger.w3  # the payload in IPFS is the anchored one
    assert hashlib.sha256(world.ministry.clients.ipfs.cat(sent.cid)).digest() == sent.anchored.content_hash and data

    # A second report for the week that is not a correction: refused before the chain; nothing changes.
    count = world.provider.ph.contract.functions.reportCount().call()
    with pytest.raises(PublicHealthError):
        world.provider.submit(week)
    assert world.provider.ph.contract.functions.reportCount().call() == count

    # The inbox: the cholera alert, acknowledged by another member.
    inbox = OutbreakAlerts(world.other.ph, world.other.sender)
    (alert,) = [a for a in inbox.alerts() if a.details["report_id"] == sent.anchored.report_id and a.details["disease"] == "A00"]
    assert alert.kind == "outbreak" and alert.level == "critical" and alert.subject == "BJ-MO" and alert.details["disease"] == "A00"
    inbox.acknowledge(alert.id)
    assert world.other.address in [a for a in inbox.alerts() if a.id == alert.id][0].acknowledged_by
    assert inbox.alerts(patient=smear_patient.address) == []

    # A late case: the correction keeps the earlier report visible and gives no small cell away.
    world.records.put(synthetic.malaria(now, "male", 1950), world.patient().address)
    corrected = world.provider.submit(week, correction=True)
    assert corrected.anchored.is_correction and corrected.anchored.supersedes == sent.anchored.report_id
    assert corrected.alerts == [], "neither alert is raised twice"
    _, _, _, fixed = world.ministry.read(corrected.anchored)
    assert fixed[("B50", "BJ-MO", ALL, ALL)] is None, "7 -> 8 would show the late case: suppressed"
    assert all(v is None or v == 0 or v >= 5 for v in fixed.values())

    # The ministry's dashboard: the week's series (suppression marked), and the weeks the provider missed.
    first = previous_weeks(week, 3)[0]
    board = dashboard_of(world.ministry, first, week)
    series = {(s.disease, s.country): s for s in board.series}
    assert series[("A00", "BJ")].points[-1].suppressed
    assert series[("B50", "BJ")].points[-1].suppressed, "the corrected report is the latest"
    lines = {m.member: m for m in board.members}
    assert lines[world.provider.address].missing == [], "reported this week; admitted this week, so it owed no earlier week"
    assert lines[world.other.address].missing == [week], "a provider that has not reported this week shows"
    assert any(a.disease == "A00" and a.place == "BJ-MO" for a in board.alerts)
