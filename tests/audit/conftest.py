"""Fixtures for the audit tests: one populated ledger per module (inside an operator snapshot reverted afterwards);
each test runs inside the `chain` snapshot, so its tampering never leaks into the next test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from audit_world import AuditWorld, build_audit_world

from tests.conftest import RunningNetwork
from tests.support.chain_clock import take_snapshot, revert_snapshot


@pytest.fixture(scope="module")
def audit_world(local_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditWorld]:
    operator = local_network.operator_w3
    snapshot = take_snapshot(operator)
    try:
        yield build_audit_world(local_network, tmp_path_factory.mktemp("audit-world"))
    finally:
        revert_snapshot(operator, snapshot)


@pytest.fixture
def world(audit_world: AuditWorld, chain: RunningNetwork) -> AuditWorld:
    # Fresh ledger handle per test: cached sender nonces must not survive a snapshot revert.
    audit_world.ledger = chain.ledger()
    return audit_world
