"""One discipline for chain time in the tests: "now" comes from the chain, and every revert puts the clock back.

anvil's `evm_revert` rewinds the chain clock to the snapshot's and leaves it there, so a module that ran for 90 s
would leave the next one 90 s in the past, and by how much depended on the machine's speed. So every snapshot in
the suite goes through `operator_snapshot`, which after the revert sets the clock to the later of the wall clock
and the reverted head: each test starts where a fresh chain would be. Tests and worlds date consents, cards and
deadlines from `chain_now`, never from `time.time()`; the wall clock appears only here, to keep anvil in step
with the code under test (the API signs sessions and deadlines by the wall clock, as a real node's clock is).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from web3 import Web3


class HasOperator(Protocol):
    @property
    def operator_w3(self) -> Web3: ...


def chain_now(w3: Web3) -> int:
    """The head block's timestamp: the chain's own "now"."""
    return int(w3.eth.get_block("latest")["timestamp"])


def operator_call(operator: Web3, method: str, params: list[Any] | None = None) -> Any:
    reply = operator.provider.make_request(method, params or [])  # type: ignore[arg-type]
    if "error" in reply:
        raise RuntimeError(f"{method} failed on the operator port: {reply['error']}")
    return reply["result"]


def realign_clock(operator: Web3, mine: bool = True) -> None:
    """Set the clock to the wall clock, never before the head (a revert or a warp moved it), and mine a block at it,
    so the head's timestamp, which `chain_now` reads, is current and not the time of a snapshot taken long ago."""
    operator_call(operator, "evm_setTime", [max(int(time.time()), chain_now(operator) + 1)])
    if mine:
        operator_call(operator, "evm_mine")


def take_snapshot(operator: Web3) -> str:
    """An operator snapshot, taken with the clock in step (so the revert lands on a current head)."""
    realign_clock(operator)
    return str(operator_call(operator, "evm_snapshot"))


def revert_snapshot(operator: Web3, snapshot: str, mine: bool = True) -> None:
    """Revert to `snapshot` and restore the clock that the revert rewound (`mine=False` leaves the reverted height
    free for the test's next transaction)."""
    if operator_call(operator, "evm_revert", [snapshot]) is not True:
        raise RuntimeError(f"evm_revert to snapshot {snapshot} was refused")
    realign_clock(operator, mine)


@contextmanager
def operator_snapshot(network: HasOperator) -> Iterator[str]:
    """Snapshot on the operator port; on exit revert to it and restore the clock (always, even on error)."""
    snapshot = take_snapshot(network.operator_w3)
    try:
        yield snapshot
    finally:
        revert_snapshot(network.operator_w3, snapshot)


def warp(network: HasOperator, seconds: int) -> int:
    """Move chain time forward by `seconds` and mine; returns the new head time (undone by the enclosing revert)."""
    operator = network.operator_w3
    target = chain_now(operator) + seconds
    operator_call(operator, "evm_mine", [target])
    return target
