"""One real local network (anvil + permissioning gateway + IPFS node) per test session.

Tests that change chain state take the `chain` fixture, which snapshots on the operator's private port
before the test and reverts after it, so every test starts from the same consortium.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from network.sandbox import Sandbox, deterministic_account, free_port, sandbox_network, write_genesis

__all__ = ["RunningNetwork", "free_port", "throwaway_account", "write_genesis"]

RunningNetwork = Sandbox


def throwaway_account(label: str) -> LocalAccount:
    """A deterministic throwaway account for tests (never used outside them)."""
    return deterministic_account(f"healthsilk-test/{label}")


@pytest.fixture(scope="session")
def local_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNetwork]:
    with sandbox_network(tmp_path_factory.mktemp("network"), "healthsilk-test") as sandbox:
        yield sandbox


def _wall_clock(operator: Web3) -> None:
    """Point anvil's clock back at the wall clock (a revert keeps any evm_increaseTime offset)."""
    head = operator.eth.get_block("latest")["timestamp"]
    operator.provider.make_request("evm_setTime", [max(int(time.time()), head + 1)])  # type: ignore[arg-type]


@pytest.fixture
def chain(local_network: RunningNetwork) -> Iterator[RunningNetwork]:
    operator = local_network.operator_w3
    _wall_clock(operator)
    snapshot = operator.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield local_network
    finally:
        operator.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        _wall_clock(operator)
