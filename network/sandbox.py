"""A throwaway local network: its own data dir, free loopback ports, a 3-governor genesis (quorum 2).

Tests, benchmarks and fault drills use it; everything it starts is stopped when the context exits, even on error.
`engine` picks the chain node: "geth" (what `network up` runs; durable) or "anvil" (in memory, with the
`evm_*`/`anvil_*` methods that snapshot, revert and travel in time). The default stays "anvil" because the
test suite's session network snapshots and reverts around every test.
"""

from __future__ import annotations

import json
import socket
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
from network.settings import ChainEngine, NetworkSettings

GOVERNORS = (("Consortium Secretariat", "CN"), ("Benin Ministry of Health", "BJ"), ("Kazakhstan Ministry of Health", "KZ"))
QUORUM = 2


def deterministic_account(seed: str) -> LocalAccount:
    """An account derived from a public label: for tests and benchmarks only, never for anything of value."""
    return Account.from_key(keccak(text=seed))


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
class Sandbox:
    network: LocalNetwork
    governors: list[LocalAccount]

    @property
    def settings(self) -> NetworkSettings:
        return self.network.settings

    @property
    def engine(self) -> ChainEngine:
        return self.settings.chain_engine

    @property
    def w3(self) -> Web3:
        """A client's view: through the permissioning gateway."""
        return connect(self.settings.gateway_url)

    @property
    def operator_w3(self) -> Web3:
        """The operator's private port (bulk loading, fault injection; snapshots and time travel on anvil)."""
        return connect(self.settings.node_url)

    def ledger(self, operator: bool = False) -> Ledger:
        """The deployed contracts, through the gateway (default) or the private port."""
        url = self.settings.node_url if operator else self.settings.gateway_url
        return Ledger.open(url, self.settings.deployments_file)


@contextmanager
def sandbox_network(root: Path, account_namespace: str, engine: ChainEngine = "anvil", supervise: bool = False) -> Iterator[Sandbox]:
    """Start a sandbox under `root`; governors are `deterministic_account(f"{account_namespace}/governor-<i>")`.
    Unsupervised by default: fault drills kill components and decide themselves when they come back."""
    settings = NetworkSettings(data_dir=root / "data", gateway_port=free_port(), node_port=free_port(), ipfs_port=free_port(), chain_engine=engine)
    governors = [deterministic_account(f"{account_namespace}/governor-{index}") for index in range(len(GOVERNORS))]
    network = LocalNetwork(settings)
    try:
        network.up(write_genesis(root / "genesis.json", governors), supervise=supervise)
        yield Sandbox(network, governors)
    finally:
        network.down()


@contextmanager
def throwaway_network(account_namespace: str = "healthsilk-bench", engine: ChainEngine = "anvil") -> Iterator[Sandbox]:
    """A sandbox in a fresh temp dir, deleted on exit."""
    with tempfile.TemporaryDirectory(prefix="healthsilk-sandbox-") as tmp:
        with sandbox_network(Path(tmp), account_namespace, engine) as sandbox:
            yield sandbox
