"""The gateway's connection to the node's private port, and what it says when the node's disk is full.

A chain node whose disk fills or turns read-only stops: geth exits on a failed database write ("Failed to write
bad blocks ... no space left on device") and, every 30 s, shuts itself down when the free space under its
datadir is below `--datadir.minfreedisk` (by default 2 x --cache x --cache.gc %). Left alone, clients would see
"the chain node is unavailable" (or the node's raw -32603 "... no space left on device"), which tells them
nothing. So when the node does not answer, or answers that it could not write, the gateway looks at the node's
disk and answers STORAGE_FULL with a sentence that says so and what to do.

The gateway is told the node's URL only. Until it is told the datadir too (`Upstream(storage=...)`), it asks the
OS which process listens on that loopback port and reads geth's own `--datadir` and cache flags (Linux /proc),
once, while the node is up; on anvil (no datadir) or elsewhere there is nothing to look at and the answers stay
as before.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from ledger.errors import storage_failure
from network.gateway.errors import STORAGE_FULL, UPSTREAM_UNAVAILABLE, RpcRefusal

MIB = 1024 * 1024
# geth's defaults behind --datadir.minfreedisk (cmd/utils StartNode, v1.17): 2 x TrieDirtyCache (256 MB) unless
# --cache or --cache.gc is given, then 2 x cache x cache.gc / 100 (cache 1024 MB, cache.gc 25 % by default).
GETH_DEFAULT_MIN_FREE_MB = 2 * 256
GETH_DEFAULT_CACHE_MB = 1024
GETH_DEFAULT_CACHE_GC_PERCENT = 25
# With the check disabled (minfreedisk 0) a node still cannot write with less than this free.
MIN_FREE_FLOOR_BYTES = MIB
LISTEN = "0A"  # TCP state in /proc/net/tcp


@dataclass(frozen=True)
class NodeStorage:
    """Where the chain node keeps its data, and the free space below which it will not run."""

    datadir: Path
    min_free_bytes: int = 0

    def problem(self) -> tuple[str, str] | None:
        """(what is wrong, what to do) when the node's disk is full or read-only; None when it is neither."""
        try:
            stats = os.statvfs(self.datadir)
        except OSError:
            return None
        if stats.f_flag & os.ST_RDONLY:
            return (
                f"the chain node's disk is read-only ({self.datadir} is on a file system mounted read-only)",
                "Remount it read-write (a kernel does this itself after disk errors: check the disk) and restart the node, then retry",
            )
        free = stats.f_bavail * stats.f_frsize
        needed = max(self.min_free_bytes, MIN_FREE_FLOOR_BYTES)
        if free < needed:
            return (
                f"the chain node's disk is full ({free / MIB:.1f} MiB free under {self.datadir}; the node needs {needed / MIB:.0f} MiB to run)",
                "Free space there and restart the node, then retry",
            )
        return None

    @classmethod
    def of_geth_argv(cls, argv: list[str]) -> NodeStorage | None:
        """From geth's command line: its --datadir and the free-space floor its flags imply (None without --datadir)."""
        flags = _flags(argv)
        if "datadir" not in flags:
            return None
        if "datadir.minfreedisk" in flags:
            min_free_mb = int(flags["datadir.minfreedisk"])
        elif "cache" in flags or "cache.gc" in flags:
            min_free_mb = 2 * int(flags.get("cache", GETH_DEFAULT_CACHE_MB)) * int(flags.get("cache.gc", GETH_DEFAULT_CACHE_GC_PERCENT)) // 100
        else:
            min_free_mb = GETH_DEFAULT_MIN_FREE_MB
        return cls(Path(flags["datadir"]), min_free_mb * MIB)


class Upstream:
    """A JSON-RPC client for the private node port (the gateway's own calls and forwarded requests)."""

    def __init__(self, url: str, timeout: float = 60.0, storage: NodeStorage | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout)
        self._ids = itertools.count(1)
        self._url = url
        self._storage = storage
        self._looked_for_storage = storage is not None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def forward(self, payload: dict[str, Any] | list[dict[str, Any]]) -> Any:
        try:
            response = await self._client.post("/", content=_dumps(payload), headers=_JSON)
        except httpx.HTTPError as exc:
            problem = self._storage_problem()
            if problem is not None:
                what, advice = problem
                raise RpcRefusal(STORAGE_FULL, f"{what}: the node has stopped rather than risk its database. {advice}") from None
            raise RpcRefusal(UPSTREAM_UNAVAILABLE, f"the chain node is unavailable: {exc.__class__.__name__}") from None
        try:
            reply = orjson.loads(response.content)  # several times faster than the standard parser on receipts and logs
        except orjson.JSONDecodeError:
            reply = response.json()  # what orjson refuses (e.g. integers beyond 64 bits) the standard parser reads
        if not self._looked_for_storage:
            self._looked_for_storage = True  # once, while the node answers: it is the process listening now
            self._storage = _listening_geth_storage(self._url)
        for item in reply if isinstance(reply, list) else [reply]:
            name_storage_failure(item, self._storage)
        return reply

    async def call(self, method: str, params: list[Any]) -> Any:
        reply = await self.forward({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        if "error" in reply:
            if reply["error"].get("code") == STORAGE_FULL:  # keep its code: the gateway would answer -32603 for a RuntimeError
                raise RpcRefusal(STORAGE_FULL, str(reply["error"].get("message")))
            raise RuntimeError(f"{method} failed: {reply['error'].get('message')}")
        return reply["result"]

    async def eth_call(self, to: str, data: bytes) -> bytes:
        result = await self.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(result[2:])

    def _storage_problem(self) -> tuple[str, str] | None:
        return self._storage.problem() if self._storage is not None else None


_JSON = {"content-type": "application/json"}


def _dumps(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload)
    except TypeError:  # integers beyond 64 bits
        return json.dumps(payload, separators=(",", ":")).encode()


def name_storage_failure(item: Any, storage: NodeStorage | None) -> None:
    """Rewrite, in place, a node's own could-not-write error (e.g. -32603 "[Errno 28] No space left on device") as
    STORAGE_FULL with the gateway's sentence (what `storage` shows, when the node's storage is known)."""
    error = item.get("error") if isinstance(item, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if not isinstance(error, dict) or not storage_failure(message) or message.startswith("execution reverted"):  # a contract's words are its own
        return
    found = storage.problem() if storage is not None else None
    what, advice = found or ("the chain node's disk is full or read-only", "Free space there (or remount it read-write), then retry")
    # The node's own words (an OS error) stay in its log; the client gets the sentence.
    error.update(code=STORAGE_FULL, message=f"{what}: the node could not write and did not carry out the request. {advice}")
    error.pop("data", None)


def _flags(argv: Iterable[str]) -> dict[str, str]:
    """`--name value` and `--name=value` pairs of a command line (flags without a value are left out)."""
    flags: dict[str, str] = {}
    args = list(argv)
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, equals, value = arg[2:].partition("=")
        if equals:
            flags[name] = value
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            flags[name] = args[index + 1]
    return flags


def _listening_geth_storage(url: str) -> NodeStorage | None:
    """The storage of the geth process listening on `url` (a loopback port), found through /proc; None if not found."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        return None
    try:
        inodes = _listening_inodes(parts.port)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                argv = (pid_dir / "cmdline").read_bytes().decode(errors="replace").split("\0")
                if not argv or not Path(argv[0]).name.startswith("geth"):
                    continue
                sockets = {os.readlink(fd) for fd in (pid_dir / "fd").iterdir()}
            except OSError:  # gone meanwhile, or not ours to look at
                continue
            if any(f"socket:[{inode}]" in sockets for inode in inodes):
                return NodeStorage.of_geth_argv(argv[1:])
    except OSError:  # no /proc (not Linux)
        return None
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes
