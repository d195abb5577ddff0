"""Group commit for the access log: reads that arrive together share one `logAccessBatch` transaction.

A read, once decided and decrypted, hands its access entry (record, purpose) to the batcher and waits. The
committer thread sends what is pending as one transaction through the institution's one sender: at once when no
batch is in flight (so a lone read waits no longer than with a transaction of its own), otherwise when the batch
in flight has its receipt, the oldest entry has waited `window` seconds, or the batch is full. Under load each
batch so takes the reads that arrived during the previous one's round trip: every transaction costs a send, a
block and a receipt in each process of the stack, and fuller batches were measured to cut the CPU per read more
than an earlier send saves in latency (a batch used to go as soon as the one before was sent: ~5 entries each at
50 readers). Up to `max_in_flight` batches may wait for their receipts at once (the sender hands out their nonces
in order). Gas comes from `access_batch_gas` (no estimate round trip). When a receipt arrives,
every entry of the batch is released with its own fate, read from the receipt's events: logged, or refused by the
contract (which refuses only that entry, never the batch). Nothing is released before its receipt, so "no record
leaves before its access is on chain" holds.

An entry whose waiter gave up (cancelled future) before the entry went into a transaction is dropped; once in a
transaction it stays there, and its access is logged though the read is never returned (the safe side).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise

from hexbytes import HexBytes

from ledger.records import Access, RecordRegistry, access_batch_gas
from ledger.transactions import TransactionSender
from ledger.vocabulary import Purpose

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 0.1  # past a typical automine round trip: on such chains a batch in flight completes first
DEFAULT_MAX_BATCH = 256  # ~1M gas at ~4k per entry: far inside a block, and a receipt's events stay small
DEFAULT_MAX_IN_FLIGHT = 4

SubmitHook = Callable[[HexBytes, Sequence["AccessEntry"]], None]


@dataclass(frozen=True)
class AccessEntry:
    record_id: bytes
    purpose: Purpose
    patient: str = ""  # only orders a batch (entries of one patient form one run: one consent lookup, one event)


@dataclass(frozen=True)
class AccessOutcome:
    """The fate of one entry: logged (with the event that logged it) or refused by the contract."""

    transaction_hash: str
    block_number: int
    access: Access | None
    batch_size: int

    @property
    def logged(self) -> bool:
        return self.access is not None


@dataclass
class _Pending:
    entry: AccessEntry
    future: Future[AccessOutcome]
    since: float = field(default_factory=time.monotonic)


class AccessBatcher:
    """Batches access entries into `logAccessBatch` transactions sent by `sender` (settable: the API swaps in its one sender)."""

    def __init__(
        self, records: RecordRegistry, sender: TransactionSender, *, window: float = DEFAULT_WINDOW_SECONDS,
        max_batch: int = DEFAULT_MAX_BATCH, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, on_submitted: SubmitHook | None = None,
    ) -> None:
        if window < 0 or not 1 <= max_batch <= 1024 or max_in_flight < 1:
            raise ValueError("window >= 0, 1 <= max_batch <= 1024 (the contract's MAX_BATCH_SIZE) and max_in_flight >= 1")
        self.records = records
        self.sender = sender
        self.window = window
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.on_submitted = on_submitted  # called after each batch is sent, before its receipt (tests simulate crashes here)
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._in_flight = 0
        self._sending = 0  # batches taken whose transaction is not sent yet (estimate, sign, send)
        self._closed = False
        self._committer: threading.Thread | None = None
        self._workers = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="access-log-batch")
        self.batches = 0  # transactions sent
        self.entries = 0  # entries sent in them

    # ------------------------------------------------------------------ callers
    def submit(self, entry: AccessEntry) -> Future[AccessOutcome]:
        """Queue one entry; the future resolves after its batch's receipt (or fails with the batch's error)."""
        return self.submit_many([entry])[0]

    def submit_many(self, entries: Sequence[AccessEntry]) -> list[Future[AccessOutcome]]:
        """Queue entries together: up to `max_batch` of them are sure to share one transaction."""
        pending = [_Pending(entry, Future()) for entry in entries]
        with self._cond:
            if self._closed:
                raise RuntimeError("the access-log batcher is closed")
            self._pending.extend(pending)
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_loop, name="access-log-committer", daemon=True)
                self._committer.start()
            self._cond.notify_all()
        return [p.future for p in pending]

    def log(self, entry: AccessEntry, timeout: float | None = None) -> AccessOutcome:
        """Queue one entry and wait for its outcome."""
        return self.submit(entry).result(timeout)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"pending": len(self._pending), "in_flight": self._in_flight, "batches": self.batches, "entries": self.entries}

    def close(self, timeout: float = 30.0) -> None:
        """Send what is pending, wait for the batches in flight, stop the threads."""
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
                batch = self._next_batch()
                if batch is None:
                    return
                self._in_flight += 1
                self._sending += 1
            # Sent and settled by a worker, so the next batch's gas estimate and send overlap this one's.
            self._workers.submit(self._run, batch)

    def _next_batch(self) -> list[_Pending] | None:
        """Under the lock: wait until a batch should go, take it (None when closed and drained)."""
        while True:
            if not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
                continue
            if self._in_flight < self.max_in_flight:
                age = time.monotonic() - self._pending[0].since
                if self._closed or self._in_flight == 0 or len(self._pending) >= self.max_batch or age >= self.window:
                    return self._take()
                self._cond.wait(self.window - age)  # or until a receipt arrives
            else:
                self._cond.wait()  # a receipt frees a slot

    def _take(self) -> list[_Pending] | None:
        taken, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        # An entry whose waiter already gave up is dropped here; the others can no longer be cancelled.
        live = [p for p in taken if p.future.set_running_or_notify_cancel()]
        return live or self._next_batch()

    def _run(self, batch: list[_Pending]) -> None:
        """Send one batch, wait for its receipt, release every entry with its fate (or the batch's error)."""
        sending = True
        try:
            batch.sort(key=lambda p: (int(p.entry.purpose), p.entry.patient))
            entries = [(p.entry.record_id, p.entry.purpose) for p in batch]
            try:
                tx_hash = self.records.submit_access_batch(self.sender, entries, gas=access_batch_gas(len(batch), _runs(batch)))
            finally:
                sending = False
                self._sent()
            with self._cond:
                self.batches += 1
                self.entries += len(batch)
            if self.on_submitted is not None:
                try:
                    self.on_submitted(tx_hash, [p.entry for p in batch])
                except Exception:
                    log.exception("access-log submit hook failed")
            result = self.records.access_batch_result(self.sender.wait(tx_hash), entries)
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
            self._fail(batch, exc)
        else:
            for pending, access in zip(batch, result.logged, strict=True):
                pending.future.set_result(AccessOutcome(result.transaction_hash, result.block_number, access, len(batch)))
        finally:
            if sending:  # failed before the send was attempted
                self._sent()
            self._done()

    def _sent(self) -> None:
        with self._cond:
            self._sending -= 1
            self._cond.notify_all()  # the reads gathered meanwhile may go now

    def _done(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            pending.future.set_exception(exc)


def _runs(batch: Sequence[_Pending]) -> int:
    """Runs of one (purpose, patient) in a sorted batch: the contract looks a consent up once per run. An entry
    whose patient is unknown counts as a run of its own (the gas bound then only grows)."""
    runs = 1
    for a, b in pairwise(batch):
        if not b.entry.patient or a.entry.patient != b.entry.patient or a.entry.purpose != b.entry.purpose:
            runs += 1
    return runs
