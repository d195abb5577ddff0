"""A small file system of the test's own, mounted on a directory, that a drill can fill or make read-only.

tmpfs first (`mount -t tmpfs -o size=N`); where that is refused, a loop-mounted ext4 image of the same size. Both
need root (CAP_SYS_ADMIN): without it the test is skipped with the reason. The mount is always undone on exit.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

FILLER = ".drill-filler"
CHUNK = 1024 * 1024


@dataclass
class SmallDisk:
    path: Path
    kind: str  # "tmpfs" or "ext4 loop image"

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self) -> int:
        """Write zeros until the file system refuses even one byte (ENOSPC); returns the bytes written."""
        written, size = 0, CHUNK
        with (self.path / FILLER).open("wb", buffering=0) as out:
            while size >= 1:
                try:
                    written += out.write(b"\0" * size) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    size //= 2  # then fill the last pages too
        return written

    def free(self) -> None:
        """Give the space back."""
        (self.path / FILLER).unlink(missing_ok=True)

    def read_only(self, timeout: float = 10.0) -> None:
        """Remount read-only. The kernel refuses while a file is open for writing (a process just killed may
        not have let go of its files yet), so this retries until `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return _mount("-o", "remount,ro", str(self.path))
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def read_write(self) -> None:
        _mount("-o", "remount,rw", str(self.path))


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[SmallDisk]:
    path.mkdir(parents=True, exist_ok=True)
    image = path.with_name(path.name + ".ext4.img")
    try:
        _mount("-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path))
        disk = SmallDisk(path, "tmpfs")
    except (subprocess.CalledProcessError, FileNotFoundError) as tmpfs_refused:
        try:
            subprocess.run(["truncate", "-s", f"{size_mb}M", str(image)], check=True, capture_output=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
            _mount("-o", "loop", str(image), str(path))
            disk = SmallDisk(path, "ext4 loop image")
        except (subprocess.CalledProcessError, FileNotFoundError) as loop_refused:
            image.unlink(missing_ok=True)
            pytest.skip(f"cannot mount a small file system here (needs root): tmpfs: {_why(tmpfs_refused)}; loop ext4: {_why(loop_refused)}")
    try:
        yield disk
    finally:
        result = subprocess.run(["umount", str(path)], check=False, capture_output=True, text=True)
        if result.returncode != 0:  # something still holds it open: detach now, the kernel frees it when released
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        image.unlink(missing_ok=True)


def _why(exc: Exception) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        return (exc.stderr or "").strip() or f"exit {exc.returncode}"
    return str(exc)
