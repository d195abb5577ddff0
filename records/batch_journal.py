"""Batches on their way to the chain, on disk: so an interrupted put never anchors its record twice.

Before an `anchorBatch` transaction is sent, its entry is written here (atomically, fsynced): the root, the
manifest's CID and the record ids; the transaction's hash and nonce are added once it is sent. The entry is
deleted when the receipt is read (anchored, or refused and its records re-sent one by one).

A put retried after a crash finds its record here when the chain does not show it yet, and learns the batch's
fate before anchoring anything (`BatchFate`): anchored (finish the put), still pending (retry later), or dead (the
transaction is unknown to the node and no receipt exists: anchor again). Entries of dead batches are dropped and
their manifests unpinned by the record service's recovery.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class BatchFate(str, Enum):
    ANCHORED = "anchored"
    PENDING = "pending"
    DEAD = "dead"


@dataclass
class JournalEntry:
    root: bytes
    manifest_cid: str
    record_ids: list[bytes]
    transaction_hash: str | None = None
    nonce: int | None = None
    path: Path | None = field(default=None, compare=False)


class BatchJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, entry: JournalEntry, durable: bool = True) -> None:
        """Atomically (temp file + rename); `durable` also fsyncs the file and the directory."""
        body = {
            "root": "0x" + entry.root.hex(), "manifest_cid": entry.manifest_cid, "record_ids": ["0x" + r.hex() for r in entry.record_ids],
            "transaction_hash": entry.transaction_hash, "nonce": entry.nonce,
        }
        path = self._path(entry.root)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(body, handle)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if durable:
            self._sync_dir()
        entry.path = path

    def drop(self, root: bytes) -> None:
        self._path(root).unlink(missing_ok=True)

    def entries(self) -> list[JournalEntry]:
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                body = json.loads(path.read_text())
                out.append(JournalEntry(
                    root=bytes.fromhex(body["root"][2:]), manifest_cid=str(body["manifest_cid"]), record_ids=[bytes.fromhex(r[2:]) for r in body["record_ids"]],
                    transaction_hash=body.get("transaction_hash"), nonce=body.get("nonce"), path=path,
                ))
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)  # a torn write cannot happen (rename); anything else is not ours
        return out

    def holding(self, record_id: bytes) -> list[JournalEntry]:
        return [entry for entry in self.entries() if bytes(record_id) in entry.record_ids]

    def _path(self, root: bytes) -> Path:
        return self.directory / f"{root.hex()}.json"

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
