"""Raw JSON-RPC helpers for tests that speak to the gateway byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

ZERO_ADDRESS = "0x" + "00" * 20


def rpc(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=30).json()


def signed_transfer(account: LocalAccount, chain_id: int, nonce: int, to: str = "0x" + "00" * 19 + "01") -> str:
    """A signed 0-value transfer, as hex (what a wallet would hand to eth_sendRawTransaction)."""
    tx = {"to": to, "value": 0, "gas": 21000, "maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9, "nonce": nonce, "chainId": chain_id}
    return "0x" + account.sign_transaction(tx).raw_transaction.hex()
