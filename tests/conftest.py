"""Real local networks (chain node + permissioning gateway + Kubo), one of each kind per test session and worker.

`local_network` runs anvil: contract, payment, audit and gateway tests take the `chain` fixture there, which
snapshots on the operator's private port before the test and reverts after it (restoring the clock), so every
test starts from the same consortium and may travel in time. `geth_network` runs geth, as `network up` does:
the API, wallet, record-service and end-to-end tests run there, where nothing is ever reverted, so they isolate
by fresh patients and members admitted once (tests/support/members.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount

from network.sandbox import Sandbox, deterministic_account, free_port, sandbox_network, write_genesis
from tests.support.chain_clock import operator_snapshot

__all__ = ["RunningNetwork", "free_port", "throwaway_account", "write_genesis"]

RunningNetwork = Sandbox


def throwaway_account(label: str) -> LocalAccount:
    """A deterministic throwaway account for tests (never used outside them)."""
    return deterministic_account(f"healthsilk-test/{label}")


@pytest.fixture(scope="session")
def local_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNetwork]:
    with sandbox_network(tmp_path_factory.mktemp("network"), "healthsilk-test", engine="anvil") as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def geth_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNetwork]:
    with sandbox_network(tmp_path_factory.mktemp("geth-network"), "healthsilk-test", engine="geth") as sandbox:
        yield sandbox


@pytest.fixture
def chain(local_network: RunningNetwork) -> Iterator[RunningNetwork]:
    with operator_snapshot(local_network):
        yield local_network
