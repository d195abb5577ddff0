"""Deploy the break-glass flow (issue 13): it reads the registry, the consent ledger and the record registry."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy(
        "BreakGlass",
        context.address("ConsortiumRegistry"),
        context.address("ConsentLedger"),
        context.address("RecordRegistry"),
    )
