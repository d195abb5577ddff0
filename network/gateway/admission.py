"""Decide whether a signed raw transaction may enter the chain: its sender must be an active member.

The rule is the consortium registry's Besu-style `transactionAllowed(...)`, evaluated at chain head, so
a suspension takes effect for the very next transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from network.gateway.errors import INVALID_PARAMS, TRANSACTION_REFUSED, RpcRefusal
from network.gateway.upstream import Upstream

_TRANSACTION_ALLOWED = keccak(text="transactionAllowed(address,address,uint256,uint256,uint256,bytes)")[:4]
_MEMBER = keccak(text="member(address)")[:4]
_MEMBER_TUPLE = "(string,bytes2,uint8,bytes,string,uint8,uint64,uint64)"
_STATUS_WORDS = {0: "is not a consortium member", 2: "is a suspended consortium member"}
ZERO_ADDRESS = "0x" + "00" * 20
ALLOWED_TYPED_TRANSACTIONS = frozenset({1, 2})


@dataclass(frozen=True)
class DecodedTransaction:
    sender: str
    target: str
    value: int
    gas_price: int
    gas_limit: int
    payload: bytes


def decode_raw_transaction(raw_hex: object) -> DecodedTransaction:
    """Recover the sender and the fields transactionAllowed needs; RpcRefusal on anything malformed."""
    if not isinstance(raw_hex, str) or not raw_hex.startswith("0x"):
        raise RpcRefusal(INVALID_PARAMS, "eth_sendRawTransaction expects one 0x-prefixed hex string")
    try:
        raw = HexBytes(raw_hex)
        sender = to_checksum_address(Account.recover_transaction(raw_hex))
        if raw and raw[0] <= 0x7F:
            _refuse_type(sender, raw[0])
            fields = TypedTransaction.from_bytes(raw).as_dict()
            gas_price = int(fields.get("maxFeePerGas", fields.get("gasPrice", 0)))
        else:
            fields = rlp.decode(raw, LegacyTransaction).as_dict()
            gas_price = int(fields["gasPrice"])
            if int(fields["v"]) in (27, 28):
                raise RpcRefusal(TRANSACTION_REFUSED, f"transaction from {sender} refused: it has no EIP-155 replay protection; sign it with the chain id")
    except RpcRefusal:
        raise
    except Exception as exc:  # noqa: BLE001 - every decoding failure is the client's malformed input
        raise RpcRefusal(INVALID_PARAMS, f"malformed signed transaction: {exc}") from None
    to = fields.get("to") or b""
    return DecodedTransaction(
        sender=sender,
        target=to_checksum_address(bytes(to)) if to else ZERO_ADDRESS,
        value=int(fields.get("value", 0)),
        gas_price=gas_price,
        gas_limit=int(fields.get("gas", 0)),
        payload=bytes(fields.get("data", b"")),
    )


def _refuse_type(sender: str, tx_type: int) -> None:
    """Only access-list (1) and fee-market (2) typed transactions enter. A set-code transaction (EIP-7702, type 4)
    carries authorisations that would give code to accounts the registry never admitted, whoever relays it;
    blob transactions (type 3) have no use here."""
    if tx_type not in ALLOWED_TYPED_TRANSACTIONS:
        what = {3: "blob transactions (EIP-4844, type 3)", 4: "set-code transactions (EIP-7702, type 4)"}.get(tx_type, f"transactions of type {tx_type}")
        raise RpcRefusal(TRANSACTION_REFUSED, f"transaction from {sender} refused: {what} are not accepted on this network")


async def check_transaction_allowed(upstream: Upstream, registry: str | None, tx: DecodedTransaction) -> None:
    """Raise RpcRefusal naming the sender and the reason unless the registry allows the transaction."""
    if registry is None:
        raise RpcRefusal(TRANSACTION_REFUSED, f"transaction from {tx.sender} refused: the consortium registry is not deployed yet")
    args = encode(
        ["address", "address", "uint256", "uint256", "uint256", "bytes"],
        [tx.sender, tx.target, tx.value, tx.gas_price, tx.gas_limit, tx.payload],
    )
    result = await upstream.eth_call(registry, _TRANSACTION_ALLOWED + args)
    (allowed,) = decode(["bool"], result)
    if allowed:
        return
    status = await _member_status(upstream, registry, tx.sender)
    reason = _STATUS_WORDS.get(status, "is not allowed to transact by the consortium registry")
    raise RpcRefusal(TRANSACTION_REFUSED, f"transaction from {tx.sender} refused: {tx.sender} {reason}")


async def _member_status(upstream: Upstream, registry: str, account: str) -> int:
    try:
        result = await upstream.eth_call(registry, _MEMBER + encode(["address"], [account]))
        (member,) = decode([_MEMBER_TUPLE], result)
        return int(member[5])
    except Exception:  # noqa: BLE001 - the status only refines the refusal message
        return -1
