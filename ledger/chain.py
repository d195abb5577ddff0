"""Connecting to the chain and binding the deployed contracts from their compiled artifacts."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import requests
import requests.adapters
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import TxReceipt

from ledger.compile import load_artifact
from ledger.deployments import Deployments
from ledger.errors import ContractRevert, ErrorDecoder
from ledger.events import DEFAULT_MAX_BLOCK_RANGE, DecodedEvent, EventReader
from ledger.transactions import TransactionSender

# Every contract whose custom errors may surface in a revert (including OpenZeppelin's, via inheritance).
KNOWN_CONTRACTS: tuple[str, ...] = (
    "ConsortiumRegistry", "ConsentLedger", "RecordRegistry", "HealthCardPayments", "SettlementToken",
    "ReferralCases", "BreakGlass", "Prescriptions", "PublicHealthReports",  # the care flows (ledger/care_flows.py)
    "DelegateAccessLog",  # delegates' reads (ledger/delegate_reads.py)
)


POOL_CONNECTIONS = 64  # keep-alive connections to the node: the API's worker threads and batchers share them


def node_session() -> requests.Session:
    """One HTTP session for every thread of a connection. `trust_env` off: the node is on loopback, so no proxy or
    .netrc applies, and requests would otherwise stat ~/.netrc and scan the proxy variables on every JSON-RPC call
    (measured: ~5% of the API's CPU under read load). Shared, the pool keeps connections warm across threads,
    where web3's default opens a session, and connections, per thread."""
    session = requests.Session()
    session.trust_env = False
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=POOL_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connect(url: str, timeout: float = 60.0) -> Web3:
    """A Web3 for a node URL; tolerates POA extraData (Besu QBFT) so the same code runs on both networks."""
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}, session=node_session()))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


class Ledger:
    """One chain connection and the project's deployed contracts on it."""

    def __init__(self, w3: Web3, deployments: Deployments, max_block_range: int = DEFAULT_MAX_BLOCK_RANGE) -> None:
        self.w3 = w3
        self.deployments = deployments
        self.max_block_range = max_block_range
        self._contracts: dict[str, Contract] = {}

    @classmethod
    def open(cls, url: str, deployments_file: Path) -> "Ledger":
        w3 = connect(url)
        return cls(w3, Deployments.load(deployments_file, w3.eth.chain_id))

    @cached_property
    def decoder(self) -> ErrorDecoder:
        abis = []
        for name in KNOWN_CONTRACTS:
            try:
                abis.append(load_artifact(name)["abi"])
            except (FileNotFoundError, KeyError, LookupError):
                continue
        return ErrorDecoder(abis)

    def transact(self, sender: TransactionSender, function: ContractFunction) -> TxReceipt:
        """`sender.transact(function)`; a refusal the sender's own decoder did not know (a sender made before the care
        flows were known, say) is decoded with every project contract's errors, so it is raised by its error's name."""
        try:
            return sender.transact(function)
        except ContractRevert as exc:
            if exc.name == "UnknownRevert" and exc.raw:
                raise self.decoder.decode(exc.raw) from None
            raise

    def contract(self, name: str) -> Contract:
        if name not in self._contracts:
            self._contracts[name] = self.w3.eth.contract(address=self.deployments.address_of(name), abi=load_artifact(name)["abi"])
        return self._contracts[name]

    def events(self, name: str, event: str, **indexed: Any) -> list[DecodedEvent]:
        """`event` logs of deployed contract `name` since its deployment, filtered by indexed arguments, in chain order.

        Read in chunks of at most `max_block_range` blocks (Besu limits eth_getLogs ranges)."""
        start = self.deployments.contracts[name].block_number if name in self.deployments.contracts else 0
        return EventReader(self.w3, self.max_block_range).read_filtered(self.contract(name), event, start, self.w3.eth.block_number, **indexed)

    def sender(self, account: LocalAccount) -> TransactionSender:
        return TransactionSender(self.w3, account, self.decoder)
