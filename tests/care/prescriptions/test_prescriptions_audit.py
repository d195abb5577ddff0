"""The audit replay of e-prescriptions (issue 14): a real history replays clean and is reported per country and per
pharmacy; each rule flags the event that breaks it (judged against the replayed state)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest

from ledger.audit import AuditOptions, run_audit
from ledger.audit.fetch import ChainEvent
from ledger.audit.flow_prescriptions import FAMILY
from ledger.audit.flows import FlowContext
from ledger.prescriptions import Scope
from tests.care.prescriptions.rx_world import DAY, PHARMACY_BJ, PHARMACY_BJ2, PHARMACY_KZ, PRESCRIBER, RxWorld, build_world
from tests.conftest import RunningNetwork
from tests.support.chain_clock import warp


@pytest.fixture
def world(chain: RunningNetwork) -> Iterator[RxWorld]:
    yield build_world(chain)


def test_a_real_history_replays_clean_and_is_reported_per_country_and_pharmacy(world: RxWorld) -> None:
    patient = world.patient()
    repeat = world.issue(patient, dispenses_allowed=2, min_interval=DAY)
    world.present(patient, repeat.prescription_id, PHARMACY_BJ)
    world.present(patient, repeat.prescription_id, PHARMACY_KZ)
    world.dispense(PHARMACY_BJ, patient, repeat.prescription_id)
    warp(world.network, DAY)
    world.dispense(PHARMACY_KZ, patient, repeat.prescription_id)
    benin = world.issue(patient, scope=Scope.COUNTRY, country="BJ", dispenses_allowed=1, single_dispense=True, min_interval=0)
    world.present(patient, benin.prescription_id, PHARMACY_BJ2)
    world.dispense(PHARMACY_BJ2, patient, benin.prescription_id)
    cancelled = world.issue(patient)
    world.rx.cancel(world.sender(PRESCRIBER), cancelled.prescription_id)
    world.sender(PHARMACY_BJ).transact(world.rx.contract.functions.recordsAccessed(repeat.prescription_id, [repeat.record_id]))

    result = run_audit(world.ledger, AuditOptions())
    ours = [v for v in result.violations if v.rule.startswith("prescription-")]
    assert ours == [], ours
    section = result.report["report"]["flows"]["prescriptions"]
    assert section["dispenses"] >= 3 and section["cancelled"] >= 1
    by_address = {p["address"]: p for p in section["per_pharmacy"]}
    assert by_address[PHARMACY_BJ.address]["dispenses"] >= 1 and by_address[PHARMACY_KZ.address]["country"] == "KZ"
    assert section["per_country"]["BJ"] >= 2 and section["per_country"]["KZ"] >= 1
    assert section["cross_border_dispenses"] >= 3, "every dispense here is outside the prescriber's country"

    # Each rule flags what breaks it: the last dispense replayed again, as a third one by a pharmacy it was not
    # presented to, with a record used before.
    flow = copy.deepcopy(result.state.flows["prescriptions"])
    pid = "0x" + repeat.prescription_id.hex()
    rx = flow["prescriptions"][pid]
    used_record = next(r for r, p in flow["used_records"].items() if p == pid)
    flagged: list[str] = []
    ctx = FlowContext(result.state, flow, lambda rule, text, subject="": flagged.append(rule), lambda *a: True)
    event = ChainEvent("PrescriptionDispensed", {
        "prescriptionId": repeat.prescription_id, "patient": patient.address, "pharmacy": PHARMACY_BJ2.address,
        "dispenseRecordId": bytes.fromhex(used_record[2:]), "dispensed": 3, "dispensesAllowed": 2,
    }, "Prescriptions", 0, "0x" + os.urandom(32).hex(), 0, rx["last_at"] + 1)
    FAMILY.check(ctx, event)
    assert set(flagged) == {"prescription-count", "prescription-time", "prescription-pharmacy", "prescription-dispense-record"}, flagged

    flagged.clear()
    read = ChainEvent("CareRecordsAccessed", {"ref": repeat.prescription_id, "reader": PHARMACY_BJ2.address, "patient": patient.address, "purpose": 1,
                                              "recordIds": [repeat.record_id]}, "Prescriptions", 0, "0x" + os.urandom(32).hex(), 0, rx["last_at"] + 1)
    FAMILY.check(ctx, read)
    assert flagged == ["prescription-read"]
