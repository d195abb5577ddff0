"""Fetching every event of every project contract, in chain order, with the block time of each.

The contract set is the deployed ConsortiumRegistry, ConsentLedger, RecordRegistry and HealthCardPayments plus
the SettlementToken that HealthCardPayments created (its address is read from the payments contract, because
it is not deployed on its own). Logs come through `EventReader` (chunked, halving on range errors); block
timestamps come from batched `eth_getBlockByNumber` calls, one per block that has events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from ledger.care_flows import care_flow_contracts
from ledger.chain import Ledger
from ledger.compile import load_artifact
from ledger.audit.decode import FastEventDecoder
from ledger.events import DEFAULT_MAX_BLOCK_RANGE, EventReader

CORE_CONTRACTS: tuple[str, ...] = ("ConsortiumRegistry", "ConsentLedger", "RecordRegistry", "HealthCardPayments")
TOKEN = "SettlementToken"
RPC_BATCH = 100  # the permissioning gateway's batch limit
RPC_PARALLEL = 4  # batches in flight at once

Progress = Callable[[int, int, int], None]  # (blocks done, blocks total, events so far)


class AuditFetchError(RuntimeError):
    """The node could not give what the audit needs (a contract is missing, a call failed)."""


class ChainEvent:
    """One decoded event with the timestamp of its block (what every time-dependent rule is judged by)."""

    __slots__ = ("name", "args", "contract", "block", "tx", "log_index", "timestamp", "call")

    def __init__(self, name: str, args: dict[str, Any], contract: str, block: int, tx: str, log_index: int, timestamp: int) -> None:
        self.name = name
        self.args = args
        self.contract = contract  # contract name, e.g. "RecordRegistry"
        self.block = block
        self.tx = tx  # 0x-hex, lower case
        self.log_index = log_index
        self.timestamp = timestamp
        # The decoded batched-record call behind the event, where one is needed (ledger.audit.calls).
        self.call: Any = None

    def __repr__(self) -> str:
        return f"ChainEvent({self.contract}.{self.name} block {self.block} log {self.log_index})"


class ContractSet:
    """The project's contracts on one chain, bound from the deployments file and the compiled ABIs."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.w3: Web3 = ledger.w3
        self.contracts: dict[str, Contract] = {}
        for name in CORE_CONTRACTS:
            try:
                self.contracts[name] = ledger.contract(name)
            except LookupError as exc:
                raise AuditFetchError(str(exc)) from None
        # The care flows' contracts, where deployed (a chain without them is audited as before).
        for name in care_flow_contracts():
            if name in ledger.deployments.contracts:
                self.contracts[name] = ledger.contract(name)
        token_address = self.contracts["HealthCardPayments"].functions.settlementToken().call()
        self.contracts[TOKEN] = self.w3.eth.contract(address=token_address, abi=load_artifact(TOKEN)["abi"])
        self.names_by_address = {contract.address.lower(): name for name, contract in self.contracts.items()}
        self.deployment_block = min(ledger.deployments.contracts[name].block_number for name in CORE_CONTRACTS)
        self.registry_block = ledger.deployments.contracts["ConsortiumRegistry"].block_number

    def __getitem__(self, name: str) -> Contract:
        return self.contracts[name]

    def decoders(self) -> dict[tuple[str, str], FastEventDecoder]:
        """(lower-case address, topic0) -> decoder, for every event of every contract in the set."""
        table: dict[tuple[str, str], FastEventDecoder] = {}
        for contract in self.contracts.values():
            for entry in contract.abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    decoder = FastEventDecoder(dict(entry))
                    table[(contract.address.lower(), decoder.topic)] = decoder
        return table

    def addresses(self) -> dict[str, str]:
        return {name: contract.address for name, contract in sorted(self.contracts.items())}


def fetch_events(
    contracts: ContractSet,
    from_block: int,
    to_block: int,
    *,
    max_block_range: int = DEFAULT_MAX_BLOCK_RANGE,
    progress: Progress | None = None,
    reader: EventReader | None = None,
) -> list[ChainEvent]:
    """Every event of the contract set in [from_block, to_block], in chain order, with block timestamps."""
    reader = reader or EventReader(contracts.w3, max_block_range)
    decoders = contracts.decoders()
    addresses = sorted({address for address, _topic in decoders})
    topics = [sorted({topic for _address, topic in decoders})]
    names = contracts.names_by_address
    events: list[ChainEvent] = []
    missing_times: set[int] = set()
    total = max(0, to_block - from_block + 1)
    start = from_block
    # Windows of max_block_range blocks so the progress bar moves; the reader halves within a window if it must.
    while start <= to_block:
        end = min(to_block, start + max_block_range - 1)
        for log in reader.logs(addresses, topics, start, end):
            address = log["address"].lower()
            decoder = decoders.get((address, log["topics"][0]))
            if decoder is None:
                continue
            block = int(log["blockNumber"], 16)
            stamp = log.get("blockTimestamp")  # anvil and recent geth include it; Besu does not
            if stamp is None:
                missing_times.add(block)
            events.append(ChainEvent(decoder.name, decoder.decode(log), names[address], block, log["transactionHash"].lower(), int(log["logIndex"], 16), -1 if stamp is None else int(stamp, 16)))
        if progress is not None:
            progress(end - from_block + 1, total, len(events))
        start = end + 1
    if missing_times:
        times = block_timestamps(contracts.w3, sorted(missing_times))
        for event in events:
            if event.timestamp < 0:
                event.timestamp = times[event.block]
    return events


def block_timestamps(w3: Web3, numbers: Sequence[int]) -> dict[int, int]:
    """{block number: timestamp} for the given blocks, in JSON-RPC batches."""
    replies = rpc_batch(w3, [("eth_getBlockByNumber", [hex(number), False]) for number in numbers])
    times: dict[int, int] = {}
    for number, block in zip(numbers, replies, strict=True):
        if not isinstance(block, dict):
            raise AuditFetchError(f"block {number} is not available from the node")
        times[number] = int(block["timestamp"], 16)
    return times


def block_header(w3: Web3, number: int) -> tuple[int, str, int]:
    """(number, hash, timestamp) of a block."""
    block = w3.eth.get_block(number)
    return int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"])


def rpc_batch(w3: Web3, calls: Sequence[tuple[str, list[Any]]], batch_size: int = RPC_BATCH, parallel: int = RPC_PARALLEL) -> list[Any]:
    """Results of many JSON-RPC calls, in order, sent as batches (a few in flight: the gateway answers a batch's
    items one after the other, so concurrency is what keeps it busy); any error fails the whole audit loudly."""
    url = getattr(w3.provider, "endpoint_uri", None)
    if not url:
        raise AuditFetchError("batched reads need an HTTP provider")
    chunks = [calls[offset : offset + batch_size] for offset in range(0, len(calls), batch_size)]
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=parallel)) as client:

        def send(chunk: Sequence[tuple[str, list[Any]]]) -> list[Any]:
            body = [{"jsonrpc": "2.0", "id": index, "method": method, "params": params} for index, (method, params) in enumerate(chunk)]
            try:
                reply = client.post(str(url), json=body).json()
            except (httpx.HTTPError, ValueError) as exc:
                raise AuditFetchError(f"batched JSON-RPC to {url} failed: {exc}") from None
            if not isinstance(reply, list):
                raise AuditFetchError(f"batched JSON-RPC refused: {reply.get('error') if isinstance(reply, dict) else reply}")
            by_id = {item.get("id"): item for item in reply}
            results = []
            for index, (method, _params) in enumerate(chunk):
                item = by_id.get(index)
                if item is None or "error" in item:
                    raise AuditFetchError(f"{method} failed: {None if item is None else item['error']}")
                results.append(item["result"])
            return results

        if len(chunks) <= 1:
            return [result for chunk in chunks for result in send(chunk)]
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return [result for results in pool.map(send, chunks) for result in results]


class ViewCaller:
    """Batched eth_call of view functions at one block, encoded and decoded with the functions' ABI.

    Selectors and types are worked out once per function: web3's per-call `encode_abi` re-hashes the signature
    every time and made a full-state comparison CPU-bound on the client."""

    def __init__(self, w3: Web3, block: int) -> None:
        self.w3 = w3
        self.block = hex(block)
        self._calls: list[tuple[str, tuple[bytes, list[str], list[str]], tuple[Any, ...]]] = []
        self._functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}

    def add(self, contract: Contract, function: str, *args: Any) -> int:
        key = (contract.address, function)
        spec = self._functions.get(key)
        if spec is None:
            abi = contract.get_function_by_name(function).abi
            inputs = [_type_of(item) for item in abi["inputs"]]
            spec = self._functions[key] = (keccak(text=f"{function}({','.join(inputs)})")[:4], inputs, [_type_of(item) for item in abi["outputs"]])
        # eth_abi takes bytes for bytesN / bytes; the state model keeps them as 0x-hex.
        args = tuple(bytes.fromhex(arg[2:]) if kind.startswith("bytes") and isinstance(arg, str) else arg for kind, arg in zip(spec[1], args, strict=True))
        self._calls.append((contract.address, spec, args))
        return len(self._calls) - 1

    def run(self) -> list[Any]:
        requests = [("eth_call", [{"to": address, "data": "0x" + (selector + abi_encode(inputs, list(args))).hex()}, self.block]) for address, (selector, inputs, _outputs), args in self._calls]
        raw = rpc_batch(self.w3, requests)
        decoded = []
        for (_address, (_selector, _inputs, outputs), _args), result in zip(self._calls, raw, strict=True):
            values = abi_decode(outputs, bytes.fromhex(result[2:]))
            decoded.append(values[0] if len(values) == 1 else values)
        self._calls = []
        return decoded


def _type_of(item: Any) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_type_of(component) for component in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def checksum(address: str) -> str:
    return to_checksum_address(address)
