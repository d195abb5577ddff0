"""anvil as the local chain node, for tests that travel in time or snapshot and revert (`evm_*`, `anvil_*`).

It runs in memory: such tests need no durability, and `network up` runs geth (network/geth.py) for anything
that must survive a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from network.operator import Operator
from network.processes import ProcessError
from network.settings import LOOPBACK


class AnvilError(ProcessError):
    """anvil is missing; the message says what to do."""


@dataclass(frozen=True)
class AnvilNode:
    binary: Path
    chain_id: int
    http_port: int
    operator: Operator
    gas_limit: int
    base_fee_wei: int

    def prepare(self) -> None:
        if not os.access(self.binary, os.X_OK):
            raise AnvilError(f"anvil is not installed at {self.binary}: run `npm ci` (or `make build`)")

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            "--host", LOOPBACK,
            "--port", str(self.http_port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", self.operator.mnemonic,
            "--accounts", "1",  # only the operator is prefunded; the gateway tops members up with anvil_setBalance
            "--balance", "1000000",
            "--base-fee", str(self.base_fee_wei),
            "--gas-limit", str(self.gas_limit),
            "--no-request-size-limit",  # the gateway enforces the client limit
        ]
