"""An institution's local key store: data-key wraps patients shared after a record was written (SQLite)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_shares (
    record_id   BLOB PRIMARY KEY,
    patient     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    wrap        BLOB NOT NULL,
    received_at INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class StoredWrap:
    record_id: bytes
    patient: str
    version: int
    wrap: bytes


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per operation: safe across threads, one transaction each.
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def put_many(self, wraps: list[StoredWrap]) -> None:
        """All or nothing; a newer share for the same record replaces the older one."""
        now = int(time.time())
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO key_shares (record_id, patient, version, wrap, received_at) VALUES (?, ?, ?, ?, ?)",
                [(w.record_id, w.patient, w.version, w.wrap, now) for w in wraps],
            )

    def get(self, record_id: bytes) -> StoredWrap | None:
        with self._connect() as db:
            row = db.execute("SELECT record_id, patient, version, wrap FROM key_shares WHERE record_id = ?", (record_id,)).fetchone()
        return StoredWrap(bytes(row[0]), row[1], row[2], bytes(row[3])) if row else None

    def drop(self, record_id: bytes) -> bool:
        with self._connect() as db:
            return db.execute("DELETE FROM key_shares WHERE record_id = ?", (record_id,)).rowcount > 0

    def record_ids(self) -> list[bytes]:
        with self._connect() as db:
            return [bytes(row[0]) for row in db.execute("SELECT record_id FROM key_shares ORDER BY record_id")]
