"""Group commit for anchors: concurrent puts of one institution go to the chain together, in one `anchorBatch`.

A put, once its object is sealed, spooled and pinned, hands its anchor (NewRecord) here and waits. The committer
sends what is pending, while fewer than `max_in_flight` anchor transactions await receipts: at once when no anchor
transaction is being prepared or sent (a lone put is anchored on its own, with `anchorRecord`, exactly as before;
under load a batch takes the puts that arrived while the one before was published and sent), otherwise when the
oldest entry has waited `window` seconds or `max_batch` entries wait. Two or more entries go as one `anchorBatch`: their manifest
(every record in full, ledger/merkle.py) is pinned in IPFS, the batch is journalled (batch_journal.py), then sent;
the receipt gives every record its anchor and Merkle proof. A record that supersedes another is always anchored
on its own (the contract's batches supersede nothing).

Each caller gets its own receipt-backed answer. When the contract refuses the batch (one entry without consent
refuses all of them, at the estimate or in the receipt), the entries are re-sent one by one, so only the refused
record fails, with the contract's own reason. Up to `max_in_flight` anchor transactions wait for receipts at once;
they share the institution's one transaction pipeline (nonces in order) with the access-log batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from hexbytes import HexBytes

from ledger.errors import ContractRevert
from ledger.merkle import BatchRecord, RecordBatch, manifest_bytes
from ledger.records import (
    ANCHOR_GAS,
    ZERO32,
    Anchor,
    NewRecord,
    RecordRegistry,
    batch_gas,
)
from ledger.transactions import TransactionSender
from records.batch_journal import BatchJournal, JournalEntry

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 0.02
DEFAULT_MAX_BATCH = 128  # ~2.2M gas at ~15k per entry plus the tree: well inside a block
DEFAULT_MAX_IN_FLIGHT = 1  # under load, fewer and fuller batches: each transaction costs a send, a block, a receipt
# Receipt polls of a lone put's anchor back off to at most this (batches, and access-log batches: 50 ms): a lone
# writer waits on each poll, and beside busy readers its latency is its throughput; under write load the anchors go
# in batches, polled as before (faster polls there cost more CPU per put than they saved).
PUT_RECEIPT_POLL = 0.02

Publish = Callable[[bytes], str]  # manifest bytes -> its (pinned) text CID
Unpin = Callable[[str], object]
CidCodec = tuple[Callable[[bytes], str], Callable[[str], bytes]]  # binary -> text, text -> binary
SubmitHook = Callable[[HexBytes, Sequence[NewRecord]], None]


@dataclass(frozen=True)
class AnchorOutcome:
    anchor: Anchor
    shared: bool = False  # another put of the same record (same id) was already on its way: this one joined it


@dataclass
class _Pending:
    record: NewRecord
    future: Future[AnchorOutcome]
    since: float = field(default_factory=time.monotonic)
    alone: bool = False  # anchor with anchorRecord even among others: care flows name records by id on chain


class AnchorBatcher:
    def __init__(
        self, records: RecordRegistry, sender: TransactionSender, journal: BatchJournal, publish: Publish, unpin: Unpin, cids: CidCodec, *,
        on_anchored: Callable[[list[Anchor]], None] | None = None, window: float = DEFAULT_WINDOW_SECONDS, max_batch: int = DEFAULT_MAX_BATCH,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        if window < 0 or not 1 <= max_batch <= 1024 or max_in_flight < 1:
            raise ValueError("window >= 0, 1 <= max_batch <= 1024 (the contract's MAX_BATCH_SIZE) and max_in_flight >= 1")
        self.records = records
        self.sender = sender
        self.journal = journal
        self.publish = publish
        self.unpin = unpin
        self.cid_text, self.cid_bytes = cids
        self.on_anchored = on_anchored or (lambda anchors: None)
        self.window = window
        self.max_batch = max_batch  # 1 = never batch
        self.max_in_flight = max_in_flight
        self.on_submitted: SubmitHook | None = None  # after a transaction is sent, before its receipt (tests: crashes)
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._by_id: dict[bytes, Future[AnchorOutcome]] = {}  # records queued or in flight
        self._in_flight = 0
        self._sending = 0  # taken, transactions not sent yet (manifest, journal, sign, send)
        self._unsent = threading.local()  # per worker thread: is its run's send still to finish?
        self._closed = False
        self._committer: threading.Thread | None = None
        self._workers = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="anchor-batch")
        self.counts = {"transactions": 0, "batches": 0, "batched_records": 0, "single_records": 0, "batch_refusals": 0}

    # ------------------------------------------------------------------ callers
    def anchor(self, record: NewRecord, alone: bool = False) -> AnchorOutcome:
        """Queue the record's anchor and wait for it (ContractRevert / TransactionFailed as `RecordRegistry.anchor`).
        `alone`: never in a batch (the record gets its own word in RecordRegistry, so care flows can name it)."""
        return self.submit(record, alone).result()

    def submit(self, record: NewRecord, alone: bool = False) -> Future[AnchorOutcome]:
        with self._cond:
            if self._closed:
                raise RuntimeError("the anchor batcher is closed")
            joined = self._by_id.get(record.record_id)
            if joined is not None:
                return _shared(joined)
            pending = _Pending(record, Future(), alone=alone)
            self._pending.append(pending)
            self._by_id[record.record_id] = pending.future
            pending.future.add_done_callback(lambda _f, rid=record.record_id: self._forget(rid))
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_loop, name="anchor-committer", daemon=True)
                self._committer.start()
            self._cond.notify_all()
            return pending.future

    def in_flight(self, record_id: bytes) -> bool:
        """True while a put of this record is queued or its transaction awaits its receipt (in this process)."""
        with self._cond:
            return bytes(record_id) in self._by_id

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"pending": len(self._pending), "in_flight": self._in_flight, "records": len(self._by_id), **self.counts}

    def close(self, timeout: float = 60.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            committer = self._committer
        if committer is not None:
            committer.join(timeout)
        self._workers.shutdown(wait=True)

    # ------------------------------------------------------------------ committer
    def _commit_loop(self) -> None:
        while True:
            with self._cond:
                taken = self._next()
                if taken is None:
                    return
                self._in_flight += 1
                self._sending += 1
            self._workers.submit(self._run, taken)

    def _next(self) -> list[_Pending] | None:
        while True:
            if not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
                continue
            if self._in_flight < self.max_in_flight:
                age = time.monotonic() - self._pending[0].since
                if self._closed or self._sending == 0 or len(self._pending) >= self.max_batch or age >= self.window:
                    taken, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                    return taken
                self._cond.wait(self.window - age)
            else:
                self._cond.wait()

    def _run(self, taken: list[_Pending]) -> None:
        self._unsent.flag = True
        try:
            batchable = [p for p in taken if p.record.supersedes == ZERO32 and not p.alone]
            singles = [p for p in taken if p.record.supersedes != ZERO32 or p.alone]
            if len(batchable) < 2:
                singles, batchable = singles + batchable, []
            self._singles(singles, last=not batchable)
            if batchable:
                self._batch(batchable)
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
            for pending in taken:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        finally:
            self._sent()
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _sent(self) -> None:
        """This run's transactions are sent (or failed to be): the puts gathered meanwhile may go (once per run)."""
        if getattr(self._unsent, "flag", False):
            self._unsent.flag = False
            with self._cond:
                self._sending -= 1
                self._cond.notify_all()

    def _singles(self, singles: list[_Pending], last: bool = True) -> None:
        """anchorRecord each, pipelined (all sent, then all receipts read); each entry gets its own fate. `last`:
        nothing else of this run is to be sent after them."""
        sent: list[tuple[_Pending, HexBytes]] = []
        for pending in singles:
            try:
                # urgent: a put waits on it, while an access-log batch carries reads that can wait a round trip more
                tx_hash = self.records.submit_anchor(self.sender, pending.record, gas=ANCHOR_GAS, urgent=True)
            except BaseException as exc:  # noqa: BLE001
                pending.future.set_exception(exc)
                continue
            self._count("transactions", "single_records")
            self._hook(tx_hash, [pending.record])
            sent.append((pending, tx_hash))
        if last:
            self._sent()
        for pending, tx_hash in sent:
            try:
                anchor = self.records.anchor_from_receipt(self.sender.wait(tx_hash, max_poll=PUT_RECEIPT_POLL))
            except BaseException as exc:  # noqa: BLE001
                pending.future.set_exception(exc)
            else:
                pending.future.set_result(AnchorOutcome(anchor))

    def _batch(self, batchable: list[_Pending]) -> None:
        ordered = sorted(batchable, key=lambda p: p.record.patient)  # one consent lookup per patient run
        batch = RecordBatch([BatchRecord(p.record.record_id, p.record.patient, p.record.category, p.record.content_hash, p.record.cid) for p in ordered])
        manifest_cid = self.publish(manifest_bytes(batch.records, self.cid_text))
        entry = JournalEntry(root=batch.root, manifest_cid=manifest_cid, record_ids=[r.record_id for r in batch.records])
        self.journal.write(entry)
        try:
            tx_hash = self.records.submit_batch(self.sender, batch, self.cid_bytes(manifest_cid), gas=batch_gas(batch), urgent=True)
        except ContractRevert as exc:
            self._refused(entry, ordered, exc)
            return
        except BaseException:
            self.journal.drop(batch.root)  # never sent
            self.unpin(manifest_cid)
            raise
        self._sent()
        entry.transaction_hash, entry.nonce = tx_hash.to_0x_hex(), self.sender.nonce_of(tx_hash)
        self.journal.write(entry, durable=False)  # lost in a crash, the entry without a hash is settled more cautiously
        self._count("transactions", "batches")
        with self._cond:
            self.counts["batched_records"] += len(ordered)
        self._hook(tx_hash, [p.record for p in ordered])
        try:
            receipt = self.sender.wait(tx_hash)
        except ContractRevert as exc:  # refused when mined (e.g. a consent revoked since the estimate)
            self._refused(entry, ordered, exc)
            return
        anchors = self.records.batch_anchors(receipt, batch)
        self.on_anchored(anchors)  # indexed before anyone hears of it: a read or retry right after finds it
        self.journal.drop(batch.root)
        by_id = {anchor.record_id: anchor for anchor in anchors}
        for pending in ordered:
            pending.future.set_result(AnchorOutcome(by_id[pending.record.record_id]))

    def _refused(self, entry: JournalEntry, ordered: list[_Pending], exc: ContractRevert) -> None:
        """The batch was refused as a whole: each record on its own, so only the ones the contract refuses fail."""
        log.info("anchorBatch of %d records refused (%s): anchoring them one by one", len(ordered), exc)
        with self._cond:
            self.counts["batch_refusals"] += 1
        self.journal.drop(entry.root)
        self.unpin(entry.manifest_cid)
        self._singles(ordered)

    # ------------------------------------------------------------------ helpers
    def _hook(self, tx_hash: HexBytes, records: list[NewRecord]) -> None:
        if self.on_submitted is not None:
            try:
                self.on_submitted(tx_hash, records)
            except Exception:
                log.exception("anchor submit hook failed")

    def _count(self, *names: str) -> None:
        with self._cond:
            for name in names:
                self.counts[name] += 1

    def _forget(self, record_id: bytes) -> None:
        with self._cond:
            self._by_id.pop(record_id, None)


def _shared(joined: Future[AnchorOutcome]) -> Future[AnchorOutcome]:
    """A future that resolves with `joined`'s anchor, marked shared (the caller did not create the record)."""
    shared: Future[AnchorOutcome] = Future()

    def relay(done: Future[AnchorOutcome]) -> None:
        exc = done.exception()
        if exc is not None:
            shared.set_exception(exc)
        else:
            shared.set_result(AnchorOutcome(done.result().anchor, shared=True))

    joined.add_done_callback(relay)
    return shared
