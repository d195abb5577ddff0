"""A Kubo daemon for the network tests: started from network/kubo.py on a temp repo, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from multiformats import CID

from network.ipfs_client import CHUNK_SIZE, IpfsClient, raw_cid
from network.kubo import KuboNode, read_api_secret
from network.sandbox import free_port
from network.settings import NetworkSettings


class KuboProcess:
    """One Kubo daemon on a temp repo; stop() and start() again keep the repo, port and secret."""

    def __init__(self, root: Path) -> None:
        self.node = KuboNode(NetworkSettings().ipfs_binary, root / "ipfs", free_port(), root / "ipfs-api-secret")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "kubo.log"

    @property
    def repo(self) -> Path:
        return self.node.repo

    @property
    def port(self) -> int:
        return self.node.api_port

    @property
    def api_url(self) -> str:
        return self.node.api_url

    @property
    def secret(self) -> str:
        secret = read_api_secret(self.node.secret_file)
        assert secret
        return secret

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def client(self, **kwargs: object) -> IpfsClient:
        return IpfsClient(self.api_url, secret=self.secret, **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        self.node.prepare()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.node.argv(), env={**os.environ, **self.node.env()}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"Kubo exited during start-up:\n{self.log.read_text()}"
            try:
                if self.node.ready():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"Kubo did not become ready:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal by PID, then wait; returns the exit code."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return proc.returncode

    def restart(self) -> None:
        assert self.stop() == 0, self.log.read_text()
        self.start()


def running_kubo(root: Path) -> Iterator[KuboProcess]:
    """A fresh Kubo under `root`, stopped afterwards: the body of the test modules' `ipfs_node` fixtures."""
    node = KuboProcess(root)
    node.start()
    with node.client() as c:
        c.gc()  # the first start swaps init's CIDv0 MFS root for a CIDv1 one: tests start with no garbage
    try:
        yield node
    finally:
        node.stop()


def block_files(repo: Path) -> set[Path]:
    return set((repo / "blocks").rglob("*.data"))


def block_keys(data: bytes, cid: str) -> set[str]:
    """The keys Kubo's GC reports for the blocks of ``data`` added as ``cid`` (raw CIDs of each block's multihash)."""
    parsed = CID.decode(cid)
    leaves = {raw_cid(data[i:i + CHUNK_SIZE]) for i in range(0, len(data), CHUNK_SIZE)} if parsed.codec.name == "dag-pb" else set()
    return {str(CID("base32", 1, "raw", parsed.digest))} | leaves


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket and bound UDP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (state == "0A" or table.startswith("udp")):  # 0A: LISTEN
                address, port = local.split(":")
                found.add((address_text(address), int(port, 16)))
    return found


def address_text(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    v6 = b"".join(words)
    return "127.0.0.1" if v6 == bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1]) else v6.hex()


def wait_ready(node: KuboNode) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if node.ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{node.api_url} did not become ready")
