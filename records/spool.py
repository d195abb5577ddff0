"""The put spool: a sealed object is written here before it goes to IPFS and deleted once anchored.

Sealing draws a fresh random data key, so re-sealing on a retry would give a different object and CID;
reusing the spooled bytes makes a retry add the same CID (an orphan-free, single-anchor retry).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, record_id: bytes) -> Path:
        return self.directory / f"{record_id.hex()}.hsro"

    def read(self, record_id: bytes) -> bytes | None:
        try:
            return self._path(record_id).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, record_id: bytes, data: bytes) -> None:
        """Atomically: temp file, fsync, rename, fsync the directory (survives a crash at any point)."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path(record_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._sync_dir()

    def drop(self, record_id: bytes) -> None:
        self._path(record_id).unlink(missing_ok=True)
        self._sync_dir()

    def pending(self) -> list[bytes]:
        """Record ids with a spooled object (puts that have not finished)."""
        return sorted(bytes.fromhex(p.stem) for p in self.directory.glob("*.hsro"))

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
