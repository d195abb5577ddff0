"""The operator pays for members' gas: every admitted member's balance is topped up on the private port.

Members are found from the registry's MemberAdmitted events, so funding follows governance votes without
anyone asking for it. How the money moves depends on the node:
- anvil: `anvil_setBalance` (a development method; anvil runs only for tests that travel in time).
- geth: a value transfer signed by the operator's funding account (HD index 1 of operator.json's mnemonic,
  prefunded in the genesis) and sent to the private port. The gateway waits until the transfer is mined
  before it forwards the member's own transaction, because geth checks the sender's balance when the
  transaction enters its pool. Only the gateway signs with that account, so it alone hands out its nonces.
This is a local-network convenience; a Besu consortium runs with zero gas price.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from network.gateway.upstream import Upstream

MEMBER_ADMITTED_TOPIC = "0x" + keccak(text="MemberAdmitted(address,string,bytes2,uint8,bytes,string,uint256)").hex()
TOP_UP_BELOW_WEI = 10 * 10**18
TOP_UP_TO_WEI = 100 * 10**18
MAX_LOG_RANGE = 5000
RECEIPT_POLL_SECONDS = 0.02
RECEIPT_TIMEOUT_SECONDS = 30.0


class Payer(Protocol):
    async def raise_to(self, balances: dict[str, int], target: int) -> None:
        """Bring every account in `balances` (account -> current balance) up to `target` wei."""


class SetBalancePayer:
    """anvil: set the balance directly."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    async def raise_to(self, balances: dict[str, int], target: int) -> None:
        for account in balances:
            await self._upstream.call("anvil_setBalance", [account, hex(target)])


class TransferPayer:
    """geth: operator-signed value transfers, all sent first and then awaited (one block holds them all)."""

    def __init__(self, upstream: Upstream, account: LocalAccount) -> None:
        self._upstream = upstream
        self._account = account
        self._chain_id: int | None = None
        self._next_nonce: int | None = None

    async def raise_to(self, balances: dict[str, int], target: int) -> None:
        hashes = [await self._send(account, target - balance) for account, balance in balances.items()]
        for tx_hash, account in zip(hashes, balances, strict=True):
            receipt = await self._mined(tx_hash)
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"the operator's top-up of {account} failed in transaction {tx_hash}")

    async def _send(self, account: str, value: int) -> str:
        if self._chain_id is None:
            self._chain_id = int(await self._upstream.call("eth_chainId", []), 16)
        call = {"from": self._account.address, "to": account, "value": hex(value)}
        gas = int(await self._upstream.call("eth_estimateGas", [call]), 16)  # 21000, unless the member is a contract
        head = await self._upstream.call("eth_getBlockByNumber", ["latest", False])
        tip = int(await self._upstream.call("eth_maxPriorityFeePerGas", []), 16)
        fees = {"maxFeePerGas": 2 * int(head.get("baseFeePerGas", "0x0"), 16) + tip, "maxPriorityFeePerGas": tip}
        for attempt in range(2):
            if self._next_nonce is None:
                self._next_nonce = int(await self._upstream.call("eth_getTransactionCount", [self._account.address, "pending"]), 16)
            tx: dict[str, Any] = {"to": account, "value": value, "gas": gas, "nonce": self._next_nonce, "chainId": self._chain_id, **fees}
            raw = self._account.sign_transaction(tx).raw_transaction
            try:
                tx_hash = await self._upstream.call("eth_sendRawTransaction", ["0x" + raw.hex()])
            except RuntimeError as exc:
                self._next_nonce = None  # re-read from the node next time
                if "nonce" in str(exc).lower() and attempt == 0:
                    continue
                raise
            self._next_nonce += 1
            return str(tx_hash)
        raise RuntimeError("the operator's funding account found no usable nonce")

    async def _mined(self, tx_hash: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECEIPT_TIMEOUT_SECONDS
        while loop.time() < deadline:
            try:
                receipt = await self._upstream.call("eth_getTransactionReceipt", [tx_hash])
            except RuntimeError as exc:
                # Just after a start geth answers "transaction indexing is in progress" where it means "not yet".
                if "indexing" not in str(exc):
                    raise
                receipt = None
            if receipt is not None:
                return dict(receipt)
            await asyncio.sleep(RECEIPT_POLL_SECONDS)
        raise RuntimeError(f"the operator's top-up {tx_hash} was not mined within {RECEIPT_TIMEOUT_SECONDS:.0f}s")


class MemberFunding:
    """Scans new blocks for admissions and tops up the admitted members."""

    def __init__(self, upstream: Upstream, payer: Payer) -> None:
        self._upstream = upstream
        self._payer = payer
        self._lock = asyncio.Lock()  # one balance check and payment at a time: no double top-up, no nonce race
        self._scanned_through = -1
        self._registry: str | None = None
        self._scanned_hash: str | None = None
        self._members: set[str] = set()

    async def catch_up(self, registry: str | None) -> None:
        if registry is None:
            return
        head = await self._upstream.call("eth_getBlockByNumber", ["latest", False])
        head_number = int(head["number"], 16)
        if registry != self._registry:
            self._registry, self._scanned_through = registry, -1
            self._members.clear()
        elif self._scanned_through >= 0:
            if head_number == self._scanned_through and head["hash"] == self._scanned_hash:
                return
            anchor = await self._upstream.call("eth_getBlockByNumber", [hex(self._scanned_through), False])
            if anchor is None or anchor["hash"] != self._scanned_hash:
                self._scanned_through = -1  # an operator revert replaced scanned blocks: rescan (cheap locally)
        logs: list[dict[str, Any]] = []
        for start in range(self._scanned_through + 1, head_number + 1, MAX_LOG_RANGE):  # nodes cap the range (Besu: 5000)
            query = {"address": registry, "topics": [MEMBER_ADMITTED_TOPIC], "fromBlock": hex(start), "toBlock": hex(min(head_number, start + MAX_LOG_RANGE - 1))}
            logs += await self._upstream.call("eth_getLogs", [query])
        admitted = [to_checksum_address("0x" + log["topics"][1][-40:]) for log in logs]
        self._members.update(admitted)
        await self.top_up(admitted)
        self._scanned_through, self._scanned_hash = head_number, head["hash"]

    async def ensure_funded(self, account: object) -> None:
        """Top up one known member before it pays for gas (an operator revert may have taken funds back)."""
        if isinstance(account, str) and len(account) == 42:
            try:
                member = to_checksum_address(account)
            except ValueError:
                return
            if member in self._members:
                await self.top_up([member])

    async def top_up(self, accounts: list[str]) -> None:
        if not accounts:
            return
        async with self._lock:
            balances = {account: int(await self._upstream.call("eth_getBalance", [account, "latest"]), 16) for account in dict.fromkeys(accounts)}
            low = {account: balance for account, balance in balances.items() if balance < TOP_UP_BELOW_WEI}
            if low:
                await self._payer.raise_to(low, TOP_UP_TO_WEI)
