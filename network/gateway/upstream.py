"""The gateway's connection to the node's private port."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from network.gateway.errors import UPSTREAM_UNAVAILABLE, RpcRefusal


class Upstream:
    """A JSON-RPC client for the private node port (the gateway's own calls and forwarded requests)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout)
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def forward(self, payload: dict[str, Any] | list[dict[str, Any]]) -> Any:
        try:
            response = await self._client.post("/", json=payload)
        except httpx.HTTPError as exc:
            raise RpcRefusal(UPSTREAM_UNAVAILABLE, f"the chain node is unavailable: {exc.__class__.__name__}") from None
        return response.json()

    async def call(self, method: str, params: list[Any]) -> Any:
        reply = await self.forward({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error'].get('message')}")
        return reply["result"]

    async def eth_call(self, to: str, data: bytes) -> bytes:
        result = await self.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(result[2:])
