"""The one path by which the project sends transactions: local keys, safe nonces, fees, receipts, errors.

One pipeline per key. Several transactions may be in flight at once: `submit` hands out the next nonce and sends,
`wait` collects the receipt. Nonces are managed locally and shared with every other process signing with the same
key on the same chain through a lock file (ledger/nonce_lock.py): allocate + send happen under it, and a sender that
was not the last to send re-reads the chain's `pending` count first, so two API processes, or an API and a CLI,
never hand out one nonce twice.

Recovery, so that one failed transaction never wedges the ones after it:
  * refused at send ("nonce too low", "replacement transaction underpriced"): the nonce is re-read from the
    chain and the transaction signed again; a fee below the base fee refreshes the fee data and retries; "already
    known" means the very same transaction is in the pool (a retry of ours): it counts as sent;
  * reverted when mined: the nonce is consumed, later ones are unaffected; the revert is decoded (ContractRevert);
  * dropped from the pool (the node no longer knows it and it has no receipt): re-broadcast unchanged while its
    nonce is free, or signed again with a fresh nonce once another transaction consumed it (it can then never
    be mined, so sending it again cannot execute it twice).
Chain id (and the genesis hash naming the lock file) are read once per connection; fee data at most once a
second, and again when the node refuses a fee. Callers that know the gas a call needs pass `gas` and skip the
estimate (a refusal then shows as a reverted receipt and is decoded all the same).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionIndexingInProgress,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint, TxReceipt

from ledger.errors import ContractRevert, ErrorDecoder, TransactionFailed
from ledger.nonce_lock import NonceLock, nonce_lock

GAS_HEADROOM = 1.25
FEE_TTL_SECONDS = 1.0  # a fee read is reused this long: maxFee carries 2x the base fee, ~6 full blocks of rises
SEND_ATTEMPTS = 8
RECOVERY_CHECK_SECONDS = 3.0  # a transaction without a receipt this long is looked up: still pooled, or dropped?
MAX_REMEMBERED = 4096  # signed transactions kept for recovery until their receipt is read

_KNOWN = ("already known", "already imported", "known transaction")
_NONCE = ("nonce too low", "replacement transaction underpriced", "nonce has already been used")
_FEE = ("less than block base fee", "fee cap less than", "transaction underpriced", "max fee per gas less than")

_chains: WeakKeyDictionary[Web3, tuple[int, str]] = WeakKeyDictionary()
_chains_lock = threading.Lock()


def revert_data(exc: Exception) -> bytes | None:
    """The raw revert bytes carried by a web3 exception, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, (bytes, HexBytes)):
        return bytes(data)
    return None


def cache_chain_id(w3: Web3) -> None:
    """Let web3 cache eth_chainId for this connection (no request made): its request validation asks for the chain id
    before every eth_call and gas estimate, which otherwise triples the round trips of every contract read."""
    provider = w3.provider
    if hasattr(provider, "cache_allowed_requests") and not provider.cache_allowed_requests:
        provider.cacheable_requests = (RPCEndpoint("eth_chainId"),)  # type: ignore[attr-defined]
        provider.cache_allowed_requests = True  # type: ignore[attr-defined]


def chain_identity(w3: Web3) -> tuple[int, str]:
    """(chain id, genesis block hash) of the node behind `w3`, read once per Web3 object."""
    with _chains_lock:
        known = _chains.get(w3)
    if known is not None:
        return known
    cache_chain_id(w3)
    identity = (int(w3.eth.chain_id), HexBytes(w3.eth.get_block(0)["hash"]).to_0x_hex())
    with _chains_lock:
        _chains[w3] = identity
    return identity


class FeeCache:
    """EIP-1559 fee fields, re-read at most every `ttl` seconds or when `invalidate`d (a fee the node refused)."""

    def __init__(self, w3: Web3, ttl: float = FEE_TTL_SECONDS) -> None:
        self.w3 = w3
        self.ttl = ttl
        self._lock = threading.Lock()
        self._fees: dict[str, int] | None = None
        self._read_at = 0.0

    def get(self) -> dict[str, int]:
        with self._lock:
            if self._fees is None or time.monotonic() - self._read_at > self.ttl:
                base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
                tip = int(self.w3.eth.max_priority_fee)
                self._fees = {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}
                self._read_at = time.monotonic()
            return dict(self._fees)

    def invalidate(self) -> None:
        with self._lock:
            self._fees = None


@dataclass
class _Sent:
    """A transaction this sender signed, kept until its receipt is read (to re-send it if the pool drops it)."""

    tx: dict[str, Any]
    raw: bytes
    nonce: int


class TransactionSender:
    """Signs with a key held in this process and sends through the node the Web3 object points at."""

    def __init__(self, w3: Web3, account: LocalAccount, decoder: ErrorDecoder, receipt_timeout: float = 60.0, lock: NonceLock | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        cache_chain_id(w3)
        self._lock = lock  # opened on first send (it needs the chain's identity)
        self._token = uuid.uuid4().hex  # names this sender in the lock file
        self._next_nonce: int | None = None
        self._resync = True  # re-read the nonce from the chain before the next send
        self._fees = FeeCache(w3)
        self._sent: OrderedDict[bytes, _Sent] = OrderedDict()
        self._sent_lock = threading.Lock()
        self.recovery_check_seconds = RECOVERY_CHECK_SECONDS
        self.resent = 0  # transactions sent again by recovery (dropped, or their nonce taken)
        self.nonce_retries = 0  # sends refused for their nonce (another sender took it) and signed again

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_id(self) -> int:
        return chain_identity(self.w3)[0]

    def call(self, function: ContractFunction, block: str | int = "latest") -> Any:
        """A read (eth_call) with contract errors decoded."""
        try:
            return function.call({"from": self.address}, block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decoded(exc) from None

    def transact(self, function: ContractFunction, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Send one contract call and wait for its receipt; ContractRevert on refusal."""
        return self.wait(self.submit(function, value, gas))

    def transact_many(self, functions: Sequence[ContractFunction]) -> list[TxReceipt]:
        """Send several calls back to back (pipelined), then wait for all receipts."""
        return [self.wait(tx_hash) for tx_hash in [self.submit(function) for function in functions]]

    def submit(self, function: ContractFunction, value: int = 0, gas: int | None = None, urgent: bool = False) -> HexBytes:
        """Sign and send a contract call without waiting. Without `gas`, reverts found by estimation raise here.
        `urgent` sends go before the others waiting in this process (e.g. an anchor a put waits for)."""
        return self.submit_data(function.address, function._encode_transaction_data(), value, gas, urgent)

    def deploy(self, creation_code: str) -> TxReceipt:
        """Send a contract creation (bytecode + encoded constructor arguments) and wait for it."""
        return self.wait(self.submit_data(None, creation_code))

    def submit_data(self, to: str | None, data: str, value: int = 0, gas: int | None = None, urgent: bool = False) -> HexBytes:
        tx: dict[str, Any] = {"from": self.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        if gas is None:
            gas = self._estimate(tx)
        tx["gas"] = int(gas)
        tx["chainId"] = self.chain_id
        tx.update(self._fees.get())
        return self._send(tx, urgent)

    def _estimate(self, tx: dict[str, Any]) -> int:
        """eth_estimateGas (with headroom). A call refused while transactions of ours are still unmined is estimated
        again once they are: a pipelined call may depend on one of them (a patient's registration, then her consent),
        and neither the latest block nor a node's cached pending block need show it yet."""
        for attempt in range(2):
            try:
                return int(self.w3.eth.estimate_gas(tx) * GAS_HEADROOM)  # type: ignore[arg-type]
            except (ContractCustomError, ContractLogicError) as exc:
                if attempt == 0 and self._await_unmined():
                    continue
                raise self._decoded(exc) from None
            except Web3RPCError as exc:
                raise TransactionFailed(f"cannot estimate gas: {_rpc_message(exc)}") from None
        raise AssertionError("unreachable")

    def _await_unmined(self, timeout: float = 10.0) -> bool:
        """Wait (a bounded while) until the transactions this sender sent and nobody has waited for yet are mined;
        False when there were none."""
        with self._sent_lock:
            unmined = list(self._sent)
        if not unmined:
            return False
        deadline, delay = time.monotonic() + timeout, 0.01
        for tx_hash in unmined:
            while self._receipt(HexBytes(tx_hash)) is None and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.05)
        return True

    def nonce_of(self, tx_hash: HexBytes) -> int | None:
        """The nonce this sender gave `tx_hash` (until its receipt is read)."""
        with self._sent_lock:
            sent = self._sent.get(bytes(HexBytes(tx_hash)))
        return None if sent is None else sent.nonce

    # ------------------------------------------------------------------ receipts
    def wait(self, tx_hash: HexBytes, max_poll: float = 0.05) -> TxReceipt:
        """The receipt (ContractRevert if it reverted). A transaction the pool dropped is sent again (see the
        module notes); the receipt is then the re-sent transaction's. `max_poll`: the longest pause between two
        receipt polls (a caller waiting on a put polls more often: its latency is the writer's throughput)."""
        current = HexBytes(tx_hash)
        started = time.monotonic()
        # Polled by each waiter, backing off from 10 to 50 ms: measured faster here than one shared poller of the
        # head (which costs an eth_blockNumber every few ms plus a second request per new block).
        check_at, delay = started + self.recovery_check_seconds, 0.01
        while (receipt := self._receipt(current)) is None:
            now = time.monotonic()
            if now - started > self.receipt_timeout:
                raise TransactionFailed(f"transaction {current.to_0x_hex()} not mined within {self.receipt_timeout:.0f}s")
            if now >= check_at:
                current, check_at = self._recover(current), now + self.recovery_check_seconds
            time.sleep(delay)
            delay = min(delay * 1.5, max_poll)
        with self._sent_lock:
            self._sent.pop(bytes(current), None)
            self._sent.pop(bytes(HexBytes(tx_hash)), None)
        if receipt["status"] != 1:
            raise self._failure_of(receipt)
        return receipt

    def _receipt(self, tx_hash: HexBytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except (TransactionNotFound, TransactionIndexingInProgress):
            return None  # not yet (geth answers "transaction indexing is in progress" just after a restart)

    def _recover(self, tx_hash: HexBytes) -> HexBytes:
        """A transaction without a receipt for a while: if the node dropped it, send it again (safely)."""
        with self._sent_lock:
            sent = self._sent.get(bytes(tx_hash))
        if sent is None:
            return tx_hash  # not signed here: nothing to re-send
        try:
            self.w3.eth.get_transaction(tx_hash)
            return tx_hash  # still in the pool (waiting behind a gap, or for a block): keep waiting
        except TransactionNotFound:
            pass
        except Web3RPCError:
            return tx_hash  # the node cannot tell now; ask again later
        if self._receipt(tx_hash) is not None:
            return tx_hash  # mined between the two questions
        if int(self.w3.eth.get_transaction_count(self.address, "latest")) <= sent.nonce:
            try:  # its nonce is still free: the very same bytes again (they can only ever be mined once)
                self.w3.eth.send_raw_transaction(sent.raw)
            except Web3RPCError as exc:
                if not any(marker in _rpc_message(exc).lower() for marker in _KNOWN + _NONCE):
                    raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} was dropped and could not be sent again: {_rpc_message(exc)}") from None
            self.resent += 1
            return tx_hash
        # Another transaction took its nonce and it has no receipt: it can never be mined; sign it again.
        with self._sent_lock:
            self._sent.pop(bytes(tx_hash), None)
        self._resync = True
        tx = dict(sent.tx)
        tx.update(self._fees.get())
        self.resent += 1
        return self._send(tx)

    # ------------------------------------------------------------------ nonces and sending
    def _send(self, tx: dict[str, Any], urgent: bool = False) -> HexBytes:
        lock = self._nonce_lock()
        last_error = ""
        for attempt in range(SEND_ATTEMPTS):
            with lock.held(urgent):
                tx["nonce"] = nonce = self._allocate(lock)
                signed = self.account.sign_transaction(tx)
                try:
                    tx_hash = self._broadcast(bytes(signed.raw_transaction))
                except Web3RPCError as exc:
                    last_error = _rpc_message(exc)
                    lowered = last_error.lower()
                    if any(marker in lowered for marker in _KNOWN):
                        tx_hash = HexBytes(signed.hash)  # our own identical transaction is already pooled
                    else:
                        self._resync = True
                        if any(marker in lowered for marker in _NONCE):
                            self.nonce_retries += 1  # another sender of this key took the nonce: re-read it, sign again
                        elif any(marker in lowered for marker in _FEE):
                            self._fees.invalidate()
                            tx.update(self._fees.get())
                        else:
                            raise TransactionFailed(last_error) from None
                        tx_hash = None  # type: ignore[assignment]
                except BaseException:
                    self._resync = True  # it may or may not have reached the node: ask the chain next time
                    raise
                if tx_hash is not None:
                    self._next_nonce, self._resync = nonce + 1, False
                    lock.record(self._token, nonce + 1)
                    self._remember(tx_hash, tx, bytes(signed.raw_transaction), nonce)
                    return tx_hash
            time.sleep(0.005 * 2**attempt)  # outside the lock: the sender that holds our nonce finishes first
        raise TransactionFailed(f"could not find a usable nonce after {SEND_ATTEMPTS} attempts: {last_error}")

    def _broadcast(self, raw: bytes) -> HexBytes:
        """eth_sendRawTransaction (one place, so a test can stand in for a network that loses a transaction)."""
        return HexBytes(self.w3.eth.send_raw_transaction(raw))

    def _allocate(self, lock: NonceLock) -> int:
        """Under the lock: our own next nonce if we were the last to send with this key, else the chain's."""
        if not self._resync and self._next_nonce is not None and lock.last() == (self._token, self._next_nonce):
            return self._next_nonce
        return int(self.w3.eth.get_transaction_count(self.address, "pending"))

    def _nonce_lock(self) -> NonceLock:
        if self._lock is None:
            chain_id, genesis = chain_identity(self.w3)
            self._lock = nonce_lock(chain_id, genesis, self.address)
        return self._lock

    def _remember(self, tx_hash: HexBytes, tx: dict[str, Any], raw: bytes, nonce: int) -> None:
        with self._sent_lock:
            self._sent[bytes(tx_hash)] = _Sent(dict(tx), raw, nonce)
            while len(self._sent) > MAX_REMEMBERED:  # submitted and never waited for
                self._sent.popitem(last=False)

    # ------------------------------------------------------------------ errors
    def _failure_of(self, receipt: TxReceipt) -> Exception:
        """Why a mined transaction reverted: replayed before its block, then at its block (a transaction earlier in
        the same block, e.g. a concurrent anchor of the same record, may be what made it fail)."""
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
        for block in (receipt["blockNumber"] - 1, receipt["blockNumber"]):
            try:
                self.w3.eth.call(replay, block_identifier=block)  # type: ignore[arg-type]
            except (ContractCustomError, ContractLogicError) as exc:
                return self._decoded(exc)
            except Web3RPCError as exc:
                return TransactionFailed(f"transaction {receipt['transactionHash'].to_0x_hex()} reverted: {_rpc_message(exc)}")
        return TransactionFailed(f"transaction {receipt['transactionHash'].to_0x_hex()} reverted (out of gas or state changed)")

    def _decoded(self, exc: Exception) -> ContractRevert:
        data = revert_data(exc)
        return self.decoder.decode(data) if data else ContractRevert("UnknownRevert", {"message": str(exc)})


def _rpc_message(exc: Web3RPCError) -> str:
    response = getattr(exc, "rpc_response", None) or {}
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(exc)
