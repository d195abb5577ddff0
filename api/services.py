"""Everything a request handler needs, built once per app: chain wrappers, the institution's sender, IPFS, stores.

Chain and IPFS connections are opened lazily, so the API starts (and answers /health, /ready) while the
network is still coming up; routes that need them answer 503 until they are reachable.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from api.auth.store import AuthStore
from api.metrics import Metrics
from api.settings import ApiSettings
from crypto import Identity
from ledger.chain import Ledger
from ledger.consent import ConsentLedger
from ledger.records import RecordRegistry
from ledger.registry import ConsortiumRegistry, Member
from ledger.transactions import TransactionSender, cache_chain_id
from network.ipfs_client import IpfsClient

MEMBER_CACHE_SECONDS = 30.0
BLOCK_CACHE_SIZE = 4096


@dataclass
class Services:
    settings: ApiSettings
    identity: Identity
    auth: AuthStore
    metrics: Metrics
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _init_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _singletons: dict[str, Any] = field(default_factory=dict, repr=False)
    _members: dict[str, tuple[float, Member | None]] = field(default_factory=dict, repr=False)
    _block_times: "OrderedDict[int, int]" = field(default_factory=OrderedDict, repr=False)

    @property
    def address(self) -> str:
        return self.identity.address

    # --- lazily opened connections (first use needs the chain; failures are retried next time) --------
    def _once(self, name: str, factory: Callable[[], Any]) -> Any:
        # One instance per app even under concurrent first requests: two senders of one key would race nonces.
        value = self._singletons.get(name)
        if value is None:
            with self._init_lock:
                value = self._singletons.get(name)
                if value is None:
                    value = self._singletons[name] = factory()
        return value

    def is_open(self, name: str) -> bool:
        """True once the lazily opened `name` (e.g. "record_service") exists, so using it opens nothing."""
        return name in self._singletons

    @property
    def ledger(self) -> Ledger:
        assert self.settings.gateway_url and self.settings.deployments_file

        def open_ledger() -> Ledger:
            ledger = Ledger.open(self.settings.gateway_url, self.settings.deployments_file)  # type: ignore[arg-type]
            cache_chain_id(ledger.w3)  # web3 would ask for it before every eth_call
            return ledger

        return self._once("ledger", open_ledger)

    @property
    def registry(self) -> ConsortiumRegistry:
        return self._once("registry", lambda: ConsortiumRegistry(self.ledger))

    @property
    def consents(self) -> ConsentLedger:
        return self._once("consents", lambda: ConsentLedger(self.ledger))

    @property
    def records(self) -> RecordRegistry:
        return self._once("records", lambda: RecordRegistry(self.ledger))

    @property
    def sender(self) -> TransactionSender:
        """The institution's one transaction pipeline (puts, relays, claims, access-log batches; ledger/transactions.py)."""
        return self._once("sender", lambda: self.ledger.sender(self.identity.account))

    @property
    def ipfs(self) -> IpfsClient:
        assert self.settings.ipfs_api
        return self._once("ipfs", lambda: IpfsClient(self.settings.ipfs_api))  # type: ignore[arg-type]

    @property
    def consent_index(self) -> Any:
        """The local consent index, following new blocks in a daemon thread (stopped by `close`)."""
        from ledger.consent_index import ConsentIndex

        def open_index() -> ConsentIndex:
            assert self.settings.records_dir is not None
            index = ConsentIndex.open(self.ledger, checkpoint_path=self.settings.records_dir / "consent-index.json")
            index.start_following()
            return index

        return self._once("consent_index", open_index)

    @property
    def record_service(self) -> Any:
        from api.record_access import open_record_service  # imported late: it pulls in the record service

        return self._once("record_service", lambda: open_record_service(self))

    # --- cached reads ---------------------------------------------------------------------------------
    def member(self, address: str) -> Member | None:
        """A registry member, cached briefly (names and status change only by governance votes)."""
        address = to_checksum_address(address)
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(address)
        if cached is not None and now - cached[0] < MEMBER_CACHE_SECONDS:
            return cached[1]
        member = self.registry.member(address)
        with self._lock:
            self._members[address] = (now, member)
        return member

    def member_name(self, address: str) -> str | None:
        member = self.member(address)
        return member.name if member else None

    def block_timestamp(self, number: int) -> int:
        with self._lock:
            if number in self._block_times:
                return self._block_times[number]
        timestamp = int(self.ledger.w3.eth.get_block(number)["timestamp"])
        with self._lock:
            self._block_times[number] = timestamp
            while len(self._block_times) > BLOCK_CACHE_SIZE:
                self._block_times.popitem(last=False)
        return timestamp

    def chain_time(self) -> int:
        """The head block's timestamp: contracts judge deadlines by chain time, not by this machine's clock."""
        return max(int(self.ledger.w3.eth.get_block("latest")["timestamp"]), int(time.time()))

    def close(self) -> None:
        if "record_service" in self._singletons:
            self.record_service.close()  # sends the access entries still pending, waits for their receipts
        if "consent_index" in self._singletons:
            self.consent_index.stop_following()
        if "ipfs" in self._singletons:
            self.ipfs.close()
        self.auth.close()
