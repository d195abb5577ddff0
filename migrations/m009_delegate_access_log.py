"""Deploy the delegate access log: institutions log a delegate's reads there before they release any key."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy("DelegateAccessLog", context.address("ConsortiumRegistry"), context.address("ConsentLedger"), context.address("RecordRegistry"))
