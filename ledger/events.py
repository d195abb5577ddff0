"""Reading and decoding contract events over block ranges, within the node's eth_getLogs limits.

Nodes cap eth_getLogs: Besu by block range (`--rpc-max-logs-range`, 5000 by default, 1000 in older
releases), public providers by range or result count. The reader asks for at most `max_block_range` blocks
at a time and, when a node still refuses a range as too large, halves the chunk and retries, keeping the
smaller chunk for the rest of the scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError
from web3.types import RPCEndpoint

DEFAULT_MAX_BLOCK_RANGE = 5000  # Besu's default --rpc-max-logs-range

# How nodes word "that range / result set is too big" (Besu, geth, Erigon, Infura, Alchemy, reth ...).
_RANGE_ERROR_HINTS: tuple[str, ...] = (
    "range",
    "limit",
    "too large",
    "too many",
    "too high",
    "exceed",
    "more than",
    "response size",
    "narrow",
)


class EventReadError(RuntimeError):
    """eth_getLogs failed for a reason other than a range limit, or even a single block was refused."""


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """One decoded log. `args` holds the event's fields by name (addresses checksummed, bytes as bytes)."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    log_index: int

    @property
    def position(self) -> tuple[int, int]:
        """Chain order: (block number, log index within the block)."""
        return (self.block_number, self.log_index)


def is_range_error(exc: Exception) -> bool:
    """True when a node's error means "ask for fewer blocks" rather than a real failure."""
    text = _error_text(exc).lower()
    return any(hint in text for hint in _RANGE_ERROR_HINTS)


class EventDecoder:
    """Decodes one event's logs from its ABI entry (eth_abi straight on the raw JSON-RPC log).

    Gives the same args as web3's `ContractEvent.process_log` (addresses checksummed, indexed dynamic
    values as their 32-byte topic hash) at a fraction of the cost, which matters when a full replay decodes
    every consent ever granted.
    """

    def __init__(self, abi_entry: dict[str, Any]) -> None:
        self.name = str(abi_entry["name"])
        inputs = abi_entry.get("inputs", [])
        types = [_canonical_type(item) for item in inputs]
        self.signature = f"{self.name}({','.join(types)})"
        self.topic = "0x" + keccak(text=self.signature).hex()
        self._names = [str(item["name"]) for item in inputs]
        self._indexed = [(str(item["name"]), kind, _is_dynamic(kind)) for item, kind in zip(inputs, types, strict=True) if item.get("indexed")]
        self._data_names = [str(item["name"]) for item in inputs if not item.get("indexed")]
        self._data_types = [kind for item, kind in zip(inputs, types, strict=True) if not item.get("indexed")]

    def decode(self, log: dict[str, Any]) -> dict[str, Any]:
        topics = log["topics"][1:]
        if len(topics) != len(self._indexed):
            raise EventReadError(f"{self.name}: expected {len(self._indexed)} indexed topics, got {len(topics)}")
        values: dict[str, Any] = {}
        for (name, kind, dynamic), topic in zip(self._indexed, topics, strict=True):
            raw = bytes.fromhex(topic[2:])
            values[name] = raw if dynamic else _normalize(kind, abi_decode([kind], raw)[0])
        data = bytes.fromhex(log["data"][2:])
        for name, kind, value in zip(self._data_names, self._data_types, abi_decode(self._data_types, data), strict=True):
            values[name] = _normalize(kind, value)
        return {name: values[name] for name in self._names}


class EventReader:
    """Fetches and decodes the logs of one or more contracts between two blocks, in chain order."""

    def __init__(self, w3: Web3, max_block_range: int = DEFAULT_MAX_BLOCK_RANGE) -> None:
        if max_block_range < 1:
            raise ValueError(f"max_block_range must be at least 1, got {max_block_range}")
        self.w3 = w3
        self.max_block_range = max_block_range
        self._chunk = max_block_range  # shrinks when a node refuses a range; never grows past max_block_range
        self.requests = 0  # eth_getLogs calls made (for tests and benchmarks)

    @property
    def chunk_size(self) -> int:
        """The block range currently used per request (<= max_block_range)."""
        return self._chunk

    def read(
        self,
        contracts: Contract | Sequence[Contract],
        from_block: int,
        to_block: int,
        event_names: Iterable[str] | None = None,
    ) -> list[DecodedEvent]:
        """Decoded events of `contracts` in [from_block, to_block], ordered by (block, log index).

        `event_names` restricts the scan to those events (by name, across all the contracts); None = every
        event in the contracts' ABIs. Logs whose topic matches no known event are skipped.
        """
        contracts = [contracts] if isinstance(contracts, Contract) else list(contracts)
        if not contracts:
            raise ValueError("at least one contract is required")
        decoders = _decoders(contracts, None if event_names is None else set(event_names))
        topics = sorted({topic for (_address, topic) in decoders})
        addresses = sorted({address for (address, _topic) in decoders})
        if not topics:
            return []
        return _decode(decoders, self.logs(addresses, [topics], from_block, to_block))

    def read_filtered(self, contract: Contract, event_name: str, from_block: int, to_block: int, **indexed: Any) -> list[DecodedEvent]:
        """Decoded `event_name` events of `contract` whose indexed arguments equal `indexed` (a list = any of them).

        The node filters by topic, so only matching logs travel; chunking and range-limit halving as in `read`.
        """
        decoders = _decoders([contract], {event_name})
        ((_address, topic0),) = decoders
        inputs = {item["name"]: item["type"] for item in next(e for e in contract.abi if e.get("type") == "event" and e.get("name") == event_name)["inputs"] if item.get("indexed")}
        unknown = set(indexed) - set(inputs)
        if unknown:
            raise ValueError(f"{event_name} has no indexed argument {', '.join(sorted(unknown))}")
        topics: list[Any] = [topic0]
        for name, kind in inputs.items():
            value = indexed.get(name)
            topics.append(None if value is None else [_topic(kind, v) for v in value] if isinstance(value, list) else _topic(kind, value))
        while topics[-1] is None:
            topics.pop()
        return _decode(decoders, self.logs([contract.address], topics, from_block, to_block))

    def logs(self, addresses: Sequence[str], topics: list[Any], from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Raw JSON-RPC log objects for (addresses, topics) in [from_block, to_block], fetched in chunks,
        ordered by (block, log index). Topics as eth_getLogs takes them (hex strings, lists for OR)."""
        if from_block < 0 or to_block < from_block - 1:
            raise ValueError(f"invalid block range [{from_block}, {to_block}]")
        checksummed = [to_checksum_address(address) for address in addresses]
        collected: list[dict[str, Any]] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + self._chunk - 1)
            try:
                collected.extend(self._get_logs(checksummed, topics, start, end))
            except Web3RPCError as exc:
                if not is_range_error(exc):
                    raise EventReadError(f"eth_getLogs [{start}, {end}] failed: {_error_text(exc)}") from None
                if end == start:
                    raise EventReadError(f"node refuses eth_getLogs even for block {start}: {_error_text(exc)}") from None
                self._chunk = max(1, (end - start + 1) // 2)
                continue  # retry the same start with the smaller chunk
            start = end + 1
        collected.sort(key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
        return collected

    def _get_logs(self, addresses: list[str], topics: list[Any], start: int, end: int) -> list[dict[str, Any]]:
        # Raw request: web3's per-log result formatting costs more than the decoding itself on big replays.
        self.requests += 1
        params = {"address": addresses, "topics": topics, "fromBlock": hex(start), "toBlock": hex(end)}
        response = self.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in response:
            error = response["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise Web3RPCError(message, rpc_response=response)
        logs = response.get("result")
        if not isinstance(logs, list):
            raise EventReadError(f"eth_getLogs [{start}, {end}] returned {logs!r}")
        return [log for log in logs if not log.get("removed")]


def _decode(decoders: dict[tuple[str, str], EventDecoder], logs: list[dict[str, Any]]) -> list[DecodedEvent]:
    events = []
    for log in logs:
        decoder = decoders.get((log["address"].lower(), log["topics"][0].lower() if log["topics"] else ""))
        if decoder is not None:
            events.append(
                DecodedEvent(
                    name=decoder.name,
                    args=decoder.decode(log),
                    address=_checksum(log["address"]),
                    block_number=int(log["blockNumber"], 16),
                    block_hash=bytes.fromhex(log["blockHash"][2:]),
                    transaction_hash=bytes.fromhex(log["transactionHash"][2:]),
                    log_index=int(log["logIndex"], 16),
                )
            )
    return events


def _topic(kind: str, value: Any) -> str:
    """An indexed value as its 32-byte topic (value types only: addresses, fixed bytes, integers, bools)."""
    return "0x" + encode([kind], [value]).hex()


def _decoders(contracts: list[Contract], wanted: set[str] | None) -> dict[tuple[str, str], EventDecoder]:
    """(lower-case address, topic0 hex) -> the decoder of that event."""
    decoders: dict[tuple[str, str], EventDecoder] = {}
    known: set[str] = set()
    for contract in contracts:
        for entry in contract.abi:
            if entry.get("type") != "event" or entry.get("anonymous"):
                continue
            decoder = EventDecoder(dict(entry))
            known.add(decoder.name)
            if wanted is None or decoder.name in wanted:
                decoders[(contract.address.lower(), decoder.topic)] = decoder
    if wanted is not None and (unknown := wanted - known):
        raise ValueError(f"unknown event(s) {', '.join(sorted(unknown))} in the given contracts")
    return decoders


def _canonical_type(item: dict[str, Any]) -> str:
    """The ABI type as it appears in the event signature (tuples spelled out)."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(component) for component in item["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _is_dynamic(kind: str) -> bool:
    """Indexed values of these types are stored as their keccak hash, not decodable back."""
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


def _normalize(kind: str, value: Any) -> Any:
    if kind == "address":
        return _checksum(value)
    return value


@lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return str(response["error"].get("message", exc))
    return str(exc)
