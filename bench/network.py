"""A throwaway local network for benchmarks: temp data dir, free loopback ports, a 3-governor genesis.

    with throwaway_network() as net:
        ledger = net.ledger()        # a client's view, through the gateway
        operator = net.operator_w3   # the private port (anvil_*, evm_*), for bulk loading

Everything started here is stopped (and the temp dir removed) when the block exits, even on error.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from crypto import HpkePrivateKey
from ledger.chain import Ledger, connect
from network.launcher import LocalNetwork
from network.settings import NetworkSettings

GOVERNORS = (("Consortium Secretariat", "CN"), ("Benin Ministry of Health", "BJ"), ("Kazakhstan Ministry of Health", "KZ"))
QUORUM = 2


def bench_account(label: str) -> LocalAccount:
    """A deterministic throwaway account (benchmarks only; never holds anything of value)."""
    return Account.from_key(keccak(text=f"healthsilk-bench/{label}"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_genesis(path: Path, governors: list[LocalAccount]) -> Path:
    """The genesis file `LocalNetwork.up` deploys the registry from: one governor per founding institution."""
    members = [
        {"address": account.address, "name": name, "country": country, "roles": ["GOVERNOR"], "hpke_public_key": "0x" + HpkePrivateKey.generate().public_key().to_bytes().hex(), "endpoint": ""}
        for account, (name, country) in zip(governors, GOVERNORS, strict=True)
    ]
    path.write_text(json.dumps({"members": members, "quorum": QUORUM, "proposal_lifetime_seconds": 86400}))
    return path


@dataclass
class BenchNetwork:
    network: LocalNetwork
    governors: list[LocalAccount]

    @property
    def settings(self) -> NetworkSettings:
        return self.network.settings

    @property
    def w3(self) -> Web3:
        """A client's view: through the permissioning gateway."""
        return connect(self.settings.gateway_url)

    @property
    def operator_w3(self) -> Web3:
        """The operator's private port."""
        return connect(self.settings.anvil_url)

    def ledger(self, operator: bool = False) -> Ledger:
        """The deployed contracts, through the gateway (default) or the private port."""
        url = self.settings.anvil_url if operator else self.settings.gateway_url
        return Ledger.open(url, self.settings.deployments_file)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit (main thread only) so `throwaway_network` still stops what it started."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


@contextmanager
def throwaway_network() -> Iterator[BenchNetwork]:
    """Start a network in a fresh temp dir on free ports; stop it and delete the dir on exit."""
    with tempfile.TemporaryDirectory(prefix="healthsilk-bench-") as tmp:
        root = Path(tmp)
        settings = NetworkSettings(data_dir=root / "data", gateway_port=free_port(), anvil_port=free_port(), ipfs_port=free_port())
        governors = [bench_account(f"governor-{index}") for index in range(len(GOVERNORS))]
        network = LocalNetwork(settings)
        try:
            network.up(write_genesis(root / "genesis.json", governors))
            yield BenchNetwork(network, governors)
        finally:
            network.down()
