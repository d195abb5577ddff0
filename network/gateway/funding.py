"""The operator pays for members' gas: every admitted member's balance is topped up on the private port.

Members are found from the registry's MemberAdmitted events, so funding follows governance votes without
anyone asking for it. This is a local-network convenience; a Besu consortium runs with zero gas price.
"""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

from network.gateway.upstream import Upstream

MEMBER_ADMITTED_TOPIC = "0x" + keccak(text="MemberAdmitted(address,string,bytes2,uint8,bytes,string,uint256)").hex()
TOP_UP_BELOW_WEI = 10 * 10**18
TOP_UP_TO_WEI = 100 * 10**18


class MemberFunding:
    """Scans new blocks for admissions and tops up the admitted members."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
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
        logs = await self._upstream.call(
            "eth_getLogs",
            [{"address": registry, "topics": [MEMBER_ADMITTED_TOPIC], "fromBlock": hex(self._scanned_through + 1), "toBlock": hex(head_number)}],
        )
        for log in logs:
            member = to_checksum_address("0x" + log["topics"][1][-40:])
            self._members.add(member)
            await self.top_up(member)
        self._scanned_through, self._scanned_hash = head_number, head["hash"]

    async def ensure_funded(self, account: object) -> None:
        """Top up one known member before it pays for gas (an operator revert may have taken funds back)."""
        if isinstance(account, str) and len(account) == 42:
            try:
                member = to_checksum_address(account)
            except ValueError:
                return
            if member in self._members:
                await self.top_up(member)

    async def top_up(self, account: str) -> None:
        balance = int(await self._upstream.call("eth_getBalance", [account, "latest"]), 16)
        if balance < TOP_UP_BELOW_WEI:
            await self._upstream.call("anvil_setBalance", [account, hex(TOP_UP_TO_WEI)])
