"""A fast decoder for the project's event logs (the hot path of a replay).

`ledger.events.EventDecoder` decodes through eth_abi, which costs ~150 µs per log - most of a replay's time.
The project's events use only a few ABI types (address, uintN / enums, bool, bytesN, bytes, string, bytes32[]),
so this decoder reads them straight from the 32-byte words. It gives the same args as `EventDecoder` (addresses
checksummed, indexed dynamic values as their topic hash; the audit tests compare both on real logs) and
refuses, at construction, any event with a type it does not know, so a contract change cannot be misread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from eth_utils import keccak, to_checksum_address

Reader = Callable[[bytes, int], Any]  # (data, head offset) -> value


class UnsupportedEvent(ValueError):
    """An event uses an ABI type this decoder does not handle (use ledger.events.EventDecoder for it)."""


@lru_cache(maxsize=262_144)
def checksum(hex40: str) -> str:
    return to_checksum_address("0x" + hex40)


def _dynamic_bytes(data: bytes, head: int) -> bytes:
    start = int.from_bytes(data[head : head + 32], "big")
    length = int.from_bytes(data[start : start + 32], "big")
    value = data[start + 32 : start + 32 + length]
    if len(value) != length:
        raise ValueError("dynamic value runs past the log data")
    return value


def _reader(kind: str) -> Reader:
    if kind == "address":
        return lambda data, offset: checksum(data[offset + 12 : offset + 32].hex())
    if kind.startswith("uint"):
        return lambda data, offset: int.from_bytes(data[offset : offset + 32], "big")
    if kind == "bool":
        return lambda data, offset: data[offset + 31] != 0
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        return lambda data, offset: data[offset : offset + size]
    if kind == "bytes":
        return _dynamic_bytes
    if kind == "string":
        return lambda data, offset: _dynamic_bytes(data, offset).decode("utf-8")
    if kind == "bytes32[]":
        def read_array(data: bytes, offset: int) -> tuple[bytes, ...]:
            start = int.from_bytes(data[offset : offset + 32], "big")
            count = int.from_bytes(data[start : start + 32], "big")
            items = tuple(data[start + 32 + 32 * i : start + 64 + 32 * i] for i in range(count))
            if count and len(items[-1]) != 32:
                raise ValueError("array runs past the log data")
            return items
        return read_array
    raise UnsupportedEvent(f"ABI type {kind} is not supported by the fast decoder")


def _topic_reader(kind: str) -> Callable[[str], Any]:
    if kind == "address":
        return lambda topic: checksum(topic[26:])
    if kind.startswith("uint"):
        return lambda topic: int(topic, 16)
    if kind == "bool":
        return lambda topic: int(topic, 16) != 0
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        return lambda topic: bytes.fromhex(topic[2:])[:size]
    if kind in ("bytes", "string") or kind.endswith("]"):
        return lambda topic: bytes.fromhex(topic[2:])  # only the hash is logged
    raise UnsupportedEvent(f"indexed ABI type {kind} is not supported by the fast decoder")


class FastEventDecoder:
    """Decodes one event's raw JSON-RPC logs into {arg name: value}."""

    def __init__(self, abi_entry: dict[str, Any]) -> None:
        self.name = str(abi_entry["name"])
        inputs = abi_entry.get("inputs", [])
        types = [str(item["type"]) if not str(item["type"]).startswith("tuple") else "tuple" for item in inputs]
        self.topic = "0x" + keccak(text=f"{self.name}({','.join(types)})").hex()
        self._names = [str(item["name"]) for item in inputs]
        self._topics = [(str(item["name"]), _topic_reader(kind)) for item, kind in zip(inputs, types, strict=True) if item.get("indexed")]
        self._data = [(str(item["name"]), _reader(kind)) for item, kind in zip(inputs, types, strict=True) if not item.get("indexed")]

    def decode(self, log: dict[str, Any]) -> dict[str, Any]:
        topics = log["topics"]
        if len(topics) != len(self._topics) + 1:
            raise ValueError(f"{self.name}: expected {len(self._topics)} indexed topics, got {len(topics) - 1}")
        data = bytes.fromhex(log["data"][2:])
        if len(data) < 32 * len(self._data):
            raise ValueError(f"{self.name}: log data too short")
        values = {name: read(topic) for (name, read), topic in zip(self._topics, topics[1:], strict=True)}
        for index, (name, read) in enumerate(self._data):
            values[name] = read(data, 32 * index)
        return {name: values[name] for name in self._names}
