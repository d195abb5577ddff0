"""One real local network (anvil + permissioning gateway + IPFS node) per test session.

Tests that change chain state take the `chain` fixture, which snapshots on the operator's private port
before the test and reverts after it, so every test starts from the same consortium.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from crypto import HpkePrivateKey
from ledger.chain import Ledger, connect
from network.launcher import LocalNetwork
from network.settings import NetworkSettings

GOVERNOR_COUNTRIES = (("Consortium Secretariat", "CN"), ("Benin Ministry of Health", "BJ"), ("Kazakhstan Ministry of Health", "KZ"))


def throwaway_account(label: str) -> LocalAccount:
    """A deterministic throwaway account for tests (never used outside them)."""
    return Account.from_key(keccak(text=f"healthsilk-test/{label}"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningNetwork:
    network: LocalNetwork
    governors: list[LocalAccount]

    @property
    def settings(self) -> NetworkSettings:
        return self.network.settings

    @property
    def w3(self) -> Web3:
        """A client's view: through the gateway."""
        return connect(self.settings.gateway_url)

    @property
    def operator_w3(self) -> Web3:
        """The operator's private port (snapshots, fault injection)."""
        return connect(self.settings.anvil_url)

    def ledger(self) -> Ledger:
        return Ledger.open(self.settings.gateway_url, self.settings.deployments_file)


def write_genesis(path: Path, governors: list[LocalAccount]) -> Path:
    members = [
        {"address": account.address, "name": name, "country": country, "roles": ["GOVERNOR"], "hpke_public_key": "0x" + HpkePrivateKey.generate().public_key().to_bytes().hex(), "endpoint": ""}
        for account, (name, country) in zip(governors, GOVERNOR_COUNTRIES, strict=True)
    ]
    path.write_text(json.dumps({"members": members, "quorum": 2, "proposal_lifetime_seconds": 86400}))
    return path


@pytest.fixture(scope="session")
def local_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNetwork]:
    root = tmp_path_factory.mktemp("network")
    settings = NetworkSettings(data_dir=root / "data", gateway_port=free_port(), anvil_port=free_port(), ipfs_port=free_port())
    governors = [throwaway_account(f"governor-{index}") for index in range(3)]
    network = LocalNetwork(settings)
    try:
        network.up(write_genesis(root / "genesis.json", governors))
        yield RunningNetwork(network, governors)
    finally:
        network.down()


@pytest.fixture
def chain(local_network: RunningNetwork) -> Iterator[RunningNetwork]:
    operator = local_network.operator_w3
    snapshot = operator.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield local_network
    finally:
        operator.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        # A revert keeps anvil's time offset from evm_increaseTime; put the clock back on the wall clock.
        head = operator.eth.get_block("latest")["timestamp"]
        operator.provider.make_request("evm_setTime", [max(int(time.time()), head + 1)])  # type: ignore[arg-type]
