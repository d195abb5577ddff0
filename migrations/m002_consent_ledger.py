"""Deploy the consent ledger (patient directory, consents, delegates), bound to the registry."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy("ConsentLedger", context.address("ConsortiumRegistry"))
