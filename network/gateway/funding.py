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
        # A lower bound on each member's balance: the balance last read, less the most every transaction forwarded
        # since can cost. While it stays above the top-up line no balance needs reading; a rescan (an operator
        # revert) or the node refusing for want of funds forgets it.
        self._floor: dict[str, int] = {}
        self._scan_lock = asyncio.Lock()
        self._scans_started = 0
        self._scan_finished: tuple[int, str | None] = (0, None)  # (number of the last scan that completed, its registry)

    async def catch_up(self, registry: str | None) -> None:
        """Scan the blocks since the last scan. Callers that arrive while a scan runs share the next one, which
        starts after they arrived and so sees at least the head they would have seen: one scan per round trip,
        however many requests wait for it."""
        if registry is None:
            return
        arrived = self._scans_started
        async with self._scan_lock:
            finished, scanned_registry = self._scan_finished
            if finished > arrived and scanned_registry == registry:
                return
            self._scans_started += 1
            number = self._scans_started
            await self._scan(registry)
            self._scan_finished = (number, registry)

    async def _scan(self, registry: str) -> None:
        if registry == self._registry and self._scanned_through >= 0:
            # The usual case, a few blocks since the last scan: head, the last scanned block (was it reverted?) and
            # the admissions since, in one round trip. The range starts at the scanned block, which always exists
            # (from the block after it, a node refuses the range while the head has not moved); its logs are
            # dropped. Logs past the head read here are read again next time (harmless: the set of members and the
            # balance check absorb repeats).
            replies = await self._upstream.forward([
                {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["latest", False]},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": [hex(self._scanned_through), False]},
                {"jsonrpc": "2.0", "id": 3, "method": "eth_getLogs", "params": [{"address": registry, "topics": [MEMBER_ADMITTED_TOPIC], "fromBlock": hex(self._scanned_through), "toBlock": "latest"}]},
            ])
            by_id = {reply.get("id"): reply for reply in replies} if isinstance(replies, list) else {}
            head, anchor, logs_reply = by_id.get(1, {}), by_id.get(2, {}), by_id.get(3, {})
            if "result" not in head:
                raise RuntimeError(f"eth_getBlockByNumber failed: {head.get('error', {}).get('message')}")
            head = head["result"]
            if int(head["number"], 16) == self._scanned_through and head["hash"] == self._scanned_hash:
                return
            anchor = anchor.get("result")
            if anchor is not None and anchor["hash"] == self._scanned_hash and isinstance(logs_reply.get("result"), list):
                await self._admit([log for log in logs_reply["result"] if int(log["blockNumber"], 16) > self._scanned_through], head)
                return
        await self._full_scan(registry)

    async def _admit(self, logs: list[dict[str, Any]], head: dict[str, Any]) -> None:
        admitted = [to_checksum_address("0x" + log["topics"][1][-40:]) for log in logs]
        self._members.update(admitted)
        await self.top_up(admitted)
        self._scanned_through, self._scanned_hash = int(head["number"], 16), head["hash"]

    async def _full_scan(self, registry: str) -> None:
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
                self._floor.clear()  # and it may have taken top-ups back
        logs: list[dict[str, Any]] = []
        for start in range(self._scanned_through + 1, head_number + 1, MAX_LOG_RANGE):  # nodes cap the range (Besu: 5000)
            query = {"address": registry, "topics": [MEMBER_ADMITTED_TOPIC], "fromBlock": hex(start), "toBlock": hex(min(head_number, start + MAX_LOG_RANGE - 1))}
            logs += await self._upstream.call("eth_getLogs", [query])
        await self._admit(logs, head)

    async def ensure_funded(self, account: object) -> None:
        """Top up one known member before it pays for gas (an operator revert may have taken funds back)."""
        if isinstance(account, str) and len(account) == 42:
            try:
                member = to_checksum_address(account)
            except ValueError:
                return
            if member in self._members and self._floor.get(member, 0) < TOP_UP_BELOW_WEI:
                await self.top_up([member])

    def spent(self, account: str, most: int) -> None:
        """A transaction of `account` that can cost at most `most` wei was forwarded."""
        if account in self._floor:
            self._floor[account] -= most

    async def refund(self, account: object) -> bool:
        """The node found `account` short of funds: forget its floor and top it up from its real balance.
        True when it is a member (so a retry may now pass)."""
        if not isinstance(account, str) or len(account) != 42:
            return False
        try:
            member = to_checksum_address(account)
        except ValueError:
            return False
        if member not in self._members:
            return False
        self._floor.pop(member, None)
        await self.top_up([member])
        return True

    async def top_up(self, accounts: list[str]) -> None:
        if not accounts:
            return
        async with self._lock:
            balances = {account: int(await self._upstream.call("eth_getBalance", [account, "latest"]), 16) for account in dict.fromkeys(accounts)}
            low = {account: balance for account, balance in balances.items() if balance < TOP_UP_BELOW_WEI}
            if low:
                await self._payer.raise_to(low, TOP_UP_TO_WEI)
            for account, balance in balances.items():
                self._floor[account] = TOP_UP_TO_WEI if account in low else balance
