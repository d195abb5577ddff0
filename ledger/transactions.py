"""The one path by which the project sends transactions: local keys, safe nonces, fees, receipts, errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import TxReceipt

from ledger.errors import ContractRevert, ErrorDecoder, TransactionFailed

GAS_HEADROOM = 1.25


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


class TransactionSender:
    """Signs with a key held in this process and sends through the node the Web3 object points at.

    Nonces are handed out under a lock, so threads sharing one sender never collide; a nonce that the node
    rejects is re-read from the chain and the send retried once.
    """

    def __init__(self, w3: Web3, account: LocalAccount, decoder: ErrorDecoder, receipt_timeout: float = 60.0) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        self._lock = threading.Lock()
        self._next_nonce: int | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def call(self, function: ContractFunction, block: str | int = "latest") -> Any:
        """A read (eth_call) with contract errors decoded."""
        try:
            return function.call({"from": self.address}, block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decoded(exc) from None

    def transact(self, function: ContractFunction, value: int = 0) -> TxReceipt:
        """Send one contract call and wait for its receipt; ContractRevert on refusal."""
        return self.wait(self.submit(function, value))

    def transact_many(self, functions: Sequence[ContractFunction]) -> list[TxReceipt]:
        """Send several calls back to back (pipelined), then wait for all receipts."""
        return [self.wait(tx_hash) for tx_hash in [self.submit(function) for function in functions]]

    def submit(self, function: ContractFunction, value: int = 0) -> HexBytes:
        """Sign and send a contract call without waiting; reverts found by gas estimation raise here."""
        return self.submit_data(function.address, function._encode_transaction_data(), value)

    def deploy(self, creation_code: str) -> TxReceipt:
        """Send a contract creation (bytecode + encoded constructor arguments) and wait for it."""
        return self.wait(self.submit_data(None, creation_code))

    def submit_data(self, to: str | None, data: str, value: int = 0) -> HexBytes:
        tx: dict[str, Any] = {"from": self.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        try:
            gas = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decoded(exc) from None
        except Web3RPCError as exc:
            raise TransactionFailed(f"cannot estimate gas: {_rpc_message(exc)}") from None
        tx.update(self._fees())
        tx["gas"] = int(gas * GAS_HEADROOM)
        tx["chainId"] = self.w3.eth.chain_id
        return self._sign_and_send(tx)

    def wait(self, tx_hash: HexBytes) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted:
            raise TransactionFailed(f"transaction {tx_hash.hex()} not mined within {self.receipt_timeout:.0f}s") from None
        if receipt["status"] != 1:
            raise self._failure_of(receipt)
        return receipt

    def _fees(self) -> dict[str, int]:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tip = int(self.w3.eth.max_priority_fee)
        return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}

    def _sign_and_send(self, tx: dict[str, Any]) -> HexBytes:
        for attempt in range(2):
            with self._lock:
                if self._next_nonce is None:
                    self._next_nonce = self.w3.eth.get_transaction_count(self.address, "pending")
                tx["nonce"] = self._next_nonce
                signed = self.account.sign_transaction(tx)
                try:
                    tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Web3RPCError as exc:
                    self._next_nonce = None  # re-read from the chain next time
                    message = _rpc_message(exc)
                    if "nonce" in message.lower() and attempt == 0:
                        continue
                    raise TransactionFailed(message) from None
                self._next_nonce += 1
                return tx_hash
        raise TransactionFailed("could not find a usable nonce")

    def _failure_of(self, receipt: TxReceipt) -> Exception:
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError) as exc:
            return self._decoded(exc)
        except Web3RPCError as exc:
            return TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted: {_rpc_message(exc)}")
        return TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted (out of gas or state changed)")

    def _decoded(self, exc: Exception) -> ContractRevert:
        data = revert_data(exc)
        return self.decoder.decode(data) if data else ContractRevert("UnknownRevert", {"message": str(exc)})


def _rpc_message(exc: Web3RPCError) -> str:
    response = getattr(exc, "rpc_response", None) or {}
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(exc)
