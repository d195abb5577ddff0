"""The audit's break-glass rules (ledger/audit/flow_emergency.py) on a real replay of the chain (anvil, time warped).

The contract itself refuses bad break-glasses, so a clean history replays clean; the rules then judge what only
time reveals (a break-glass left unreviewed past 72 h) and the report counts per institution, with a ready
suspension proposal for repeated unjustified break-glass.
"""

from __future__ import annotations

from eth_utils import keccak
from test_break_glass_contract import AMBULANCE, OFFICER, OTHER_ER, World, world  # noqa: F401 - the fixture

from ledger.audit import AuditOptions, run_audit
from ledger.vocabulary import Category
from tests.support.chain_clock import warp


def test_reviews_shares_overdue_reviews_and_a_suspension_proposal(world: World) -> None:  # noqa: F811
    patient = world.patient()
    allergy = world.anchor(patient, Category.ALLERGIES)
    first, second, third = world.open(patient), world.open(patient), world.open(patient)
    other = world.open(patient, reader=OTHER_ER)
    world.bg._transact(world.sender(AMBULANCE), world.bg.contract.functions.recordsAccessed(first.id, [allergy]))
    message = world.bg.review_message(first.id, True, keccak(b"ok"), patient.address, deadline=world.now() + 600)
    world.bg.relay_review(world.sender(OTHER_ER), message, message.sign(patient))
    for unjustified in (second, third):
        world.bg.review(world.sender(OFFICER), unjustified.id, False, keccak(b"no emergency"))

    clean = run_audit(world.ledger, AuditOptions())
    assert [v for v in clean.violations if v.rule.startswith("break-glass")] == [], clean.violations
    section = clean.report["report"]["flows"]["emergency"]
    rows = {r["address"]: r for r in section["institutions"]}
    assert rows[AMBULANCE.address] | {} == {**rows[AMBULANCE.address], "break_glasses": 3, "reviewed": 3, "unjustified": 2, "records_read": 1}
    assert rows[AMBULANCE.address]["share_unjustified"] == round(2 / 3, 4) and rows[OTHER_ER.address]["share_reviewed"] == 0
    assert [p["member"] for p in section["suspension_proposals"]] == [AMBULANCE.address]
    assert "Suspend Ambulance" in section["suspension_proposals"][0]["proposal"]

    warp(world.net, 72 * 3600 + 60)
    late = run_audit(world.ledger, AuditOptions())
    flagged = [v for v in late.violations if v.rule == "break-glass-review"]
    assert len(flagged) == 1 and "0x" + other.id.hex() in flagged[0].explanation and "unreviewed" in flagged[0].explanation
