"""Fixture that runs the embedded IPFS node (network/ipfs/server.mjs) as a real process."""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = REPO_ROOT / "network" / "ipfs" / "server.mjs"
PORTS = range(15000, 15100)  # this suite's port range
READY_PREFIX = "ipfs node ready on "


def _free_port() -> int:
    for port in random.sample(list(PORTS), len(PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class IpfsNode:
    """One node process on a repo dir; stop() and start() again keep the repo and port."""

    def __init__(self, repo: Path, max_add_bytes: int | None = None) -> None:
        self.repo = repo
        self.max_add_bytes = max_add_bytes
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.startup_seconds = 0.0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        node = shutil.which("node")
        assert node, "node (Node.js 20+) must be on PATH"
        for _ in range(5):  # another process may grab the port between probe and bind
            port = self.port or _free_port()
            args = [node, str(SERVER), "--repo", str(self.repo), "--host", "127.0.0.1", "--port", str(port)]
            if self.max_add_bytes is not None:
                args += ["--max-add-bytes", str(self.max_add_bytes)]
            log = open(self.repo.parent / f"{self.repo.name}.log", "a")
            began = time.monotonic()
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO_ROOT)
            log.close()
            line = self._read_line(proc, timeout=20.0)
            if line.startswith(READY_PREFIX):
                self.proc, self.port, self.startup_seconds = proc, port, time.monotonic() - began
                return
            if proc.poll() is None:  # no ready line in time: do not leave it running
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
            if self.port:  # fixed port (restart): do not silently move elsewhere
                break
        raise RuntimeError(f"IPFS node did not start; see {self.repo.parent / (self.repo.name + '.log')}")

    @staticmethod
    def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return proc.stdout.readline() if ready else ""

    def stop(self) -> int:
        """SIGTERM by PID, then wait; returns the exit code (0 on a graceful shutdown)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def restart(self) -> None:
        assert self.stop() == 0
        self.start()


@pytest.fixture
def ipfs_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IpfsNode]:
    """A fresh node in a temp repo. Indirect params: {"max_add_bytes": N}."""
    params = getattr(request, "param", {}) or {}
    node = IpfsNode(tmp_path / "ipfs-repo", max_add_bytes=params.get("max_add_bytes"))
    node.start()
    try:
        yield node
    finally:
        node.stop()
