"""Benchmarks run on a throwaway sandbox network (see network/sandbox.py).

    with throwaway_network() as net:
        ledger = net.ledger()        # a client's view, through the gateway
        operator = net.operator_w3   # the private port (anvil_*, evm_*), for bulk loading
"""

from __future__ import annotations

import signal
import sys

from eth_account.signers.local import LocalAccount

from network.sandbox import Sandbox as BenchNetwork
from network.sandbox import deterministic_account, free_port, throwaway_network

__all__ = ["BenchNetwork", "bench_account", "exit_cleanly_on_sigterm", "free_port", "throwaway_network"]


def bench_account(label: str) -> LocalAccount:
    """A deterministic throwaway account (benchmarks only; never holds anything of value)."""
    return deterministic_account(f"healthsilk-bench/{label}")


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit (main thread only) so `throwaway_network` still stops what it started."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))
