"""Deploy the consortium registry with its founding members."""

from __future__ import annotations

from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    genesis = context.genesis
    context.deploy(
        "ConsortiumRegistry",
        [member.as_member_input() for member in genesis.members],
        genesis.quorum,
        genesis.proposal_lifetime_seconds,
    )
