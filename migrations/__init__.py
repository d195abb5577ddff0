"""Numbered, idempotent deployment steps (`mNNN_*.py`, each with `migrate(context)`), run in order.

A step deploys through `MigrationContext.deploy`, which skips a contract that is already recorded in the
deployments file and has code on chain — so running the migrations again changes nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.compile import load_artifact
from ledger.deployments import DeployedContract, Deployments
from ledger.errors import ErrorDecoder
from ledger.transactions import TransactionSender
from migrations.genesis import ConsortiumGenesis


@dataclass
class MigrationContext:
    w3: Web3
    operator: LocalAccount
    deployments_file: Path
    genesis: ConsortiumGenesis
    deployments: Deployments = field(init=False)
    deployed_now: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deployments = Deployments.load(self.deployments_file, self.w3.eth.chain_id)

    def address(self, name: str) -> str:
        return self.deployments.address_of(name)

    def deploy(self, name: str, *args: Any) -> str:
        """Deploy `name` with constructor `args` unless it is already deployed; returns its address."""
        artifact = load_artifact(name)
        existing = self.deployments.contracts.get(name)
        if existing is not None and self.w3.eth.get_code(existing.address):
            return existing.address
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        sender = TransactionSender(self.w3, self.operator, ErrorDecoder([artifact["abi"]]))
        creation_code = factory.constructor(*args).build_transaction({"from": self.operator.address})["data"]
        receipt = sender.deploy(creation_code)
        self.deployments.contracts[name] = DeployedContract(
            address=receipt["contractAddress"],
            transaction_hash=receipt["transactionHash"].to_0x_hex(),
            block_number=receipt["blockNumber"],
            bytecode_sha256=hashlib.sha256(bytes.fromhex(artifact["bytecode"].removeprefix("0x"))).hexdigest(),
        )
        self.deployments.save(self.deployments_file)
        self.deployed_now.append(name)
        return receipt["contractAddress"]


def migration_modules() -> list[str]:
    names = [info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)]) if info.name[:1] == "m" and info.name[1:4].isdigit()]
    return [f"{__name__}.{name}" for name in sorted(names)]


def run_migrations(context: MigrationContext) -> list[str]:
    """Apply every step in order; returns the names of contracts deployed by this run."""
    for module_name in migration_modules():
        importlib.import_module(module_name).migrate(context)
    return context.deployed_now
