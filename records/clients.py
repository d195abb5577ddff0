"""The chain and IPFS handles the record service and the patient's wallet both use."""

from __future__ import annotations

from dataclasses import dataclass, field

from records.batch_index import BatchIndex
from records.policy import AccessPolicy, ChainAccessPolicy
from records.storage import ObjectStore
from ledger.chain import Ledger
from ledger.consent import ConsentLedger
from ledger.records import RecordRegistry
from ledger.registry import ConsortiumRegistry
from network.ipfs_client import IpfsClient


@dataclass
class RecordClients:
    ledger: Ledger
    ipfs: IpfsClient
    ipfs_api: str
    consents: ConsentLedger = field(init=False)
    records: RecordRegistry = field(init=False)
    registry: ConsortiumRegistry = field(init=False)
    objects: ObjectStore = field(init=False)
    policy: AccessPolicy = field(init=False)
    batches: BatchIndex = field(init=False)  # where batch-anchored records are (RecordBatchAnchored + manifests)

    def __post_init__(self) -> None:
        self.consents = ConsentLedger(self.ledger)
        self.records = RecordRegistry(self.ledger)
        self.registry = ConsortiumRegistry(self.ledger)
        self.objects = ObjectStore(self.ipfs, self.ipfs_api)
        self.policy = ChainAccessPolicy(self.consents)
        self.batches = BatchIndex(self.records, self.ipfs)

    @classmethod
    def open(cls, ledger: Ledger, ipfs_api: str, policy: AccessPolicy | None = None, timeout: float = 60.0, ipfs_secret: str | None = None) -> RecordClients:
        """`ipfs_secret`: Kubo's RPC secret; None lets the client find it (see network.ipfs_client)."""
        clients = cls(ledger, IpfsClient(ipfs_api, timeout=timeout, secret=ipfs_secret), ipfs_api)
        if policy is not None:
            clients.policy = policy
        return clients
