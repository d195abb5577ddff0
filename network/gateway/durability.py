"""Receipts only after durability: the gateway persists the chain before it reports a transaction mined.

anvil dumps its state every `--state-interval` seconds and on a clean exit, so a `kill -9` could lose up to
an interval of blocks. Before handing out a receipt for a block newer than the last durable snapshot, the
gateway asks the node for its state (`anvil_dumpState`, private port) and writes it atomically (temp file,
fsync, rename). The launcher starts anvil from the newest valid snapshot. Concurrent receipt requests
share one dump.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path

from network.gateway.upstream import Upstream


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class DurableSnapshots:
    """Keeps `path` at least as new as every block whose receipt was served."""

    def __init__(self, upstream: Upstream, path: Path) -> None:
        self._upstream = upstream
        self._path = path
        self._lock = asyncio.Lock()
        self._persisted_number = -1
        self._persisted_hash: str | None = None

    async def _covers(self, number: int, block_hash: str) -> bool:
        if number > self._persisted_number:
            return False
        if number == self._persisted_number:
            return block_hash == self._persisted_hash
        # An older block is covered unless an operator revert replaced the persisted head since.
        block = await self._upstream.call("eth_getBlockByNumber", [hex(self._persisted_number), False])
        return block is not None and block["hash"] == self._persisted_hash

    async def ensure(self, number: int, block_hash: str) -> None:
        if await self._covers(number, block_hash):
            return
        async with self._lock:
            if await self._covers(number, block_hash):
                return
            head = await self._upstream.call("eth_getBlockByNumber", ["latest", False])
            dump = await self._upstream.call("anvil_dumpState", [])
            state = gzip.decompress(bytes.fromhex(dump.removeprefix("0x")))
            await asyncio.to_thread(write_atomically, self._path, state)
            self._persisted_number = int(head["number"], 16)
            self._persisted_hash = head["hash"]
