"""Deploy the e-prescriptions flow contract (issue 14): prescribe, present, dispense, with the care access log."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy(
        "Prescriptions",
        context.address("ConsortiumRegistry"),
        context.address("ConsentLedger"),
        context.address("RecordRegistry"),
    )
