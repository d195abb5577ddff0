"""Deploy the public-health reports contract (weekly reports and outbreak alerts); it reads the registry only."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy("PublicHealthReports", context.address("ConsortiumRegistry"))
