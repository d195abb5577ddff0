"""Deploy the record registry (anchors, batches, erasure markers, access log)."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    context.deploy("RecordRegistry", context.address("ConsortiumRegistry"), context.address("ConsentLedger"))
