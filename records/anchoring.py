"""Where a put's record gets anchored, and whether it already is: on its own, in a batch, or in a batch on its way.

`Anchoring` joins the anchor batcher (group commit, anchor_batcher.py), the batch journal (batch_journal.py) and the
batch index (batch_index.py) behind the two questions a put asks:

* `existing(record_id, spooled)`: is this record already anchored (put is idempotent)? The chain's record word
  answers for records anchored on their own; the batch index for batched ones. When a put of the record was
  interrupted (`spooled`), the index is synced to the head first, and a journalled batch holding the record is
  settled: anchored (done), still pending (PutIncompleteError: retry later, never anchor twice) or dead (anchor it).
* `anchor(record)`: through the batcher; each caller gets its own receipt-backed anchor.
"""

from __future__ import annotations

from hexbytes import HexBytes
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound

from records.anchor_batcher import AnchorBatcher, AnchorOutcome
from records.batch_journal import BatchFate, BatchJournal, JournalEntry
from records.clients import RecordClients
from records.errors import PutIncompleteError
from i18n import _
from ledger.records import NewRecord, RecordState

_UNREAD = object()


class Anchoring:
    def __init__(self, clients: RecordClients, batcher: AnchorBatcher, journal: BatchJournal) -> None:
        self.clients = clients
        self.batcher = batcher
        self.journal = journal

    def anchor(self, record: NewRecord, alone: bool = False) -> AnchorOutcome:
        return self.batcher.anchor(record, alone)

    def existing(self, record_id: bytes, spooled: bool, state: RecordState | None | object = _UNREAD) -> bool:
        """True when the chain already holds this record (on its own or in a batch). `state`: its record word, when
        the caller already read it."""
        if (self.clients.records.state(record_id) if state is _UNREAD else state) is not None:
            return True
        if self.batcher.in_flight(record_id):
            return False  # a put of the same record is on its way in this process: the batcher joins the two
        if self.clients.batches.find(record_id, sync=spooled) is not None:
            return True
        if spooled:
            for entry in self.journal.holding(record_id):
                if self._settle(entry) is BatchFate.ANCHORED:
                    return self.clients.batches.find(record_id, sync=True) is not None
        return False

    def settle_all(self) -> dict[str, list[str]]:
        """Recovery: journalled batches settled; dead ones dropped and their manifests unpinned."""
        report: dict[str, list[str]] = {"anchored": [], "pending": [], "dead": []}
        for entry in self.journal.entries():
            if any(self.batcher.in_flight(record_id) for record_id in entry.record_ids):
                continue
            try:
                fate = self._settle(entry)
            except PutIncompleteError:
                fate = BatchFate.PENDING
            report[fate.value].append("0x" + entry.root.hex())
        return report

    def _settle(self, entry: JournalEntry) -> BatchFate:
        fate = self.fate(entry)
        if fate is BatchFate.PENDING:
            raise PutIncompleteError(
                _("batch 0x{root} holding this record was sent ({transaction}) and may still be mined; retry the upload").format(
                    root=entry.root.hex(), transaction=entry.transaction_hash or _("hash not recorded"))
            )
        self.journal.drop(entry.root)
        if fate is BatchFate.DEAD:
            self.clients.objects.unpin(entry.manifest_cid)
        return fate

    def fate(self, entry: JournalEntry) -> BatchFate:
        """Anchored (the chain has the root), pending (its transaction may still be mined) or dead."""
        if self.clients.records.batch_state(entry.root) is not None:
            return BatchFate.ANCHORED
        eth = self.clients.ledger.w3.eth
        address = self.batcher.sender.address
        if entry.transaction_hash is None:  # stopped between journalling and recording the hash: was it sent?
            pending = eth.get_transaction_count(address, "pending") > eth.get_transaction_count(address, "latest")  # type: ignore[arg-type]
            return BatchFate.PENDING if pending else BatchFate.DEAD
        tx_hash = HexBytes(entry.transaction_hash)
        try:
            return self._fate_of(tx_hash)
        except TransactionIndexingInProgress:
            return BatchFate.PENDING  # a node just restarted cannot tell yet: ask again later

    def _fate_of(self, tx_hash: HexBytes) -> BatchFate:
        eth = self.clients.ledger.w3.eth
        try:
            eth.get_transaction_receipt(tx_hash)
            return BatchFate.DEAD  # mined, and the root is not anchored: it reverted
        except TransactionNotFound:
            pass
        try:
            eth.get_transaction(tx_hash)
            return BatchFate.PENDING  # still in the pool
        except TransactionNotFound:
            return BatchFate.DEAD  # the node does not know it and nobody holds it to send it again
