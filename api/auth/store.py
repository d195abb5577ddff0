"""The API's small SQLite file: institution tokens, pending patient challenges and patient sessions. (A delegate's
read is not journalled here: it is logged on chain, DelegateAccessLog, before its keys leave.)

Secrets are never stored: a token is `<prefix><id><secret>`; the row keeps the id and sha256 of the whole
token, and a presented token is checked by id lookup plus a constant-time compare of the hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTITUTION_PREFIX = "hs_"
PATIENT_PREFIX = "hsp_"
ID_LEN = 12  # hex chars of the lookup id
SCOPES = ("read", "write", "relay", "audit", "admin")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, scopes TEXT NOT NULL, digest TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS challenges (
    nonce TEXT PRIMARY KEY, address TEXT NOT NULL, text TEXT NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, address TEXT NOT NULL, digest TEXT NOT NULL, expires_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class InstitutionToken:
    id: str
    name: str
    scopes: frozenset[str]
    created_at: int


@dataclass(frozen=True)
class PatientSession:
    id: str
    address: str
    expires_at: int


@dataclass(frozen=True)
class Challenge:
    nonce: str
    address: str
    text: str
    expires_at: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _split(token: str, prefix: str) -> str | None:
    """The lookup id of a well-formed token, else None."""
    if not token.startswith(prefix) or len(token) < len(prefix) + ID_LEN + 32:
        return None
    token_id = token[len(prefix) : len(prefix) + ID_LEN]
    return token_id if all(c in "0123456789abcdef" for c in token_id) else None


def _mint(prefix: str) -> tuple[str, str]:
    token_id = secrets.token_hex(ID_LEN // 2)
    return token_id, prefix + token_id + secrets.token_urlsafe(32)  # 256-bit secret


def parse_scopes(text: str | list[str]) -> frozenset[str]:
    items = [item.strip().lower() for item in (text.split(",") if isinstance(text, str) else text) if item.strip()]
    if not items:
        raise ValueError("at least one scope is required")
    unknown = [item for item in items if item not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}")
    return frozenset(items)


class AuthStore:
    """Thread-safe access to the auth database (one connection, serialised; requests are short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- institution tokens ------------------------------------------------------------------------
    def create_token(self, name: str, scopes: frozenset[str]) -> str:
        """A new token; the only time its secret exists outside the caller's hands."""
        if not name.strip():
            raise ValueError("a token needs a name")
        scopes = parse_scopes(sorted(scopes))
        token_id, token = _mint(INSTITUTION_PREFIX)
        with self._tx() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?)", (token_id, name.strip(), ",".join(sorted(scopes)), _digest(token), int(time.time())))
        return token

    def check_token(self, token: str) -> InstitutionToken | None:
        token_id = _split(token, INSTITUTION_PREFIX)
        if token_id is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT name, scopes, digest, created_at FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None or not hmac.compare_digest(row[2], _digest(token)):
            return None
        return InstitutionToken(token_id, row[0], frozenset(row[1].split(",")), row[3])

    def tokens(self) -> list[InstitutionToken]:
        with self._lock:
            rows = self._db.execute("SELECT id, name, scopes, created_at FROM tokens ORDER BY created_at").fetchall()
        return [InstitutionToken(r[0], r[1], frozenset(r[2].split(",")), r[3]) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0

    # --- patient challenges (single use) -------------------------------------------------------------
    def add_challenge(self, challenge: Challenge) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM challenges WHERE expires_at < ?", (int(time.time()),))
            db.execute("INSERT INTO challenges VALUES (?, ?, ?, ?)", (challenge.nonce, challenge.address, challenge.text, challenge.expires_at))

    def take_challenge(self, nonce: str) -> Challenge | None:
        """Remove and return a pending challenge: each can be answered at most once, right or wrong."""
        with self._tx() as db:
            row = db.execute("DELETE FROM challenges WHERE nonce = ? RETURNING nonce, address, text, expires_at", (nonce,)).fetchone()
        return Challenge(*row) if row else None

    # --- patient sessions --------------------------------------------------------------------------
    def create_session(self, address: str, expires_at: int) -> str:
        session_id, token = _mint(PATIENT_PREFIX)
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (int(time.time()),))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, address, _digest(token), expires_at))
        return token

    def check_session(self, token: str, now: int) -> PatientSession | None:
        session_id = _split(token, PATIENT_PREFIX)
        if session_id is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT address, digest, expires_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None or not hmac.compare_digest(row[1], _digest(token)) or row[2] <= now:
            return None
        return PatientSession(session_id, row[0], row[2])
