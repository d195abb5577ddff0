"""One lock per (chain, key) shared by every process on this machine that signs with the key: no nonce twice.

An API, a second API process and the CLI may all hold one institution's key. Each of them allocates a nonce and
sends under an exclusive `fcntl.flock` on `<lock dir>/<chain id>-<genesis>-<address>.lock` (and, within a process,
a thread lock, since flock does not exclude threads sharing one open file). The file also records who sent last
and the nonce after theirs: a sender that finds its own mark there still knows the next nonce; any other re-reads
the chain's `pending` count under the lock, after the other process's transaction reached the node.

The lock directory is `$HEALTHSILK_NONCE_LOCK_DIR`, else `<temp dir>/healthsilk-<uid>/nonce-locks`: it must be the
same for every process using the key (so it is not per data dir), and local (flock does not cross machines).
Naming the chain by its genesis hash keeps two sandbox networks with the same chain id and test keys apart.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "HEALTHSILK_NONCE_LOCK_DIR"
_RECORD_BYTES = 96  # "<token> <next nonce>" padded: rewritten in place, never longer


def default_lock_dir() -> Path:
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(tempfile.gettempdir()) / f"healthsilk-{os.getuid()}" / "nonce-locks"


class _ThreadGate:
    """A lock whose urgent waiters go first: a put waiting for its anchor's send is not queued behind a run of
    access-log batches (each send holds the lock for a round trip to the node)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent = 0

    @contextmanager
    def held(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            self._urgent += urgent
            while self._held or (not urgent and self._urgent):
                self._cond.wait()
            self._urgent -= urgent
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()


class NonceLock:
    """Exclusive across threads (a gate) and processes (flock on one file); `last`/`record` read and write the
    last sender's mark (only while held)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._thread_lock = _ThreadGate()
        self._fd: int | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:  # e.g. a read-only temp dir: threads of this process are still kept apart
                log.warning("nonce lock %s unavailable (%s): other processes using this key are not excluded", path, exc)

    @contextmanager
    def held(self, urgent: bool = False) -> Iterator[None]:
        with self._thread_lock.held(urgent):
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def last(self) -> tuple[str, int] | None:
        """(token, next nonce) of the last sender, if the file says."""
        if self._fd is None:
            return self._memory
        try:
            token, nonce = os.pread(self._fd, _RECORD_BYTES, 0).decode("ascii").split()
            return token, int(nonce)
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def record(self, token: str, next_nonce: int) -> None:
        if self._fd is None:
            self._memory = (token, next_nonce)
            return
        os.pwrite(self._fd, f"{token} {next_nonce}".ljust(_RECORD_BYTES).encode("ascii"), 0)

    _memory: tuple[str, int] | None = None


_locks: dict[Path, NonceLock] = {}
_locks_guard = threading.Lock()


def nonce_lock(chain_id: int, genesis_hash: str, address: str, lock_dir: Path | None = None) -> NonceLock:
    """The lock of (chain, address), one object per file in this process (senders of one key share it)."""
    directory = lock_dir or default_lock_dir()
    path = directory / f"{chain_id}-{genesis_hash.removeprefix('0x')[:16]}-{address.lower()}.lock"
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = NonceLock(path)
        return lock
