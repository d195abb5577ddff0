"""The gateway's ASGI app: JSON-RPC in (single or batch), policy applied, the node's private port behind."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from eth_account.signers.local import LocalAccount
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from network.gateway.admission import check_transaction_allowed, decode_raw_transaction
from network.gateway.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REQUEST_TOO_LARGE,
    RpcRefusal,
    error_response,
)
from network.gateway.funding import MemberFunding, SetBalancePayer, TransferPayer
from network.gateway.policy import params_refusal, refusal_reason
from network.gateway.upstream import Upstream

MAX_BATCH = 1000


class RpcResponse(JSONResponse):
    """JSON-RPC replies encoded by orjson (receipts and logs are the bulk of what the gateway returns); the
    standard encoder only for what orjson refuses (integers beyond 64 bits a client may have sent as an id)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


class RegistryLocator:
    """Reads the registry address from the deployments file, re-reading only when the file changes."""

    def __init__(self, deployments_file: Path) -> None:
        self._file = deployments_file
        self._stamp: float | None = None
        self._address: str | None = None

    def address(self) -> str | None:
        try:
            stamp = self._file.stat().st_mtime_ns
        except OSError:
            return None
        if stamp != self._stamp:
            try:
                record = json.loads(self._file.read_text())
                self._address = record["contracts"]["ConsortiumRegistry"]["address"]
            except (OSError, ValueError, KeyError):
                return None
            self._stamp = stamp
        return self._address


class Gateway:
    def __init__(self, upstream: Upstream, registry: RegistryLocator, funding: MemberFunding) -> None:
        self.upstream = upstream
        self.registry = registry
        self.funding = funding

    async def handle_batch(self, requests: list[Any]) -> list[dict[str, Any]]:
        """Plain reads go upstream as one batch (replays make thousands of them); the rest one by one, in order."""
        replies: list[dict[str, Any] | None] = [None] * len(requests)
        plain = [index for index, request in enumerate(requests) if _is_plain_read(request)]
        if plain:
            try:
                upstream = await self.upstream.forward([_forwardable(requests[index]) for index in plain])
                by_id = {reply.get("id"): reply for reply in upstream} if isinstance(upstream, list) else {}
            except RpcRefusal as refusal:
                by_id = {requests[index].get("id"): error_response(requests[index].get("id"), refusal.code, refusal.message) for index in plain}
            for index in plain:
                replies[index] = by_id.get(requests[index].get("id"))
        for index, request in enumerate(requests):
            if replies[index] is None:
                replies[index] = await self.handle(request)
        return replies  # type: ignore[return-value]

    async def handle(self, request: Any) -> dict[str, Any]:
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            return await self._handle(request, request_id)
        except RpcRefusal as refusal:
            return error_response(request_id, refusal.code, refusal.message)
        except Exception as exc:  # noqa: BLE001 - the gateway answers every request, it never crashes
            return error_response(request_id, INTERNAL_ERROR, f"gateway error: {exc}")

    async def _handle(self, request: Any, request_id: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            raise RpcRefusal(INVALID_REQUEST, "invalid JSON-RPC 2.0 request: expected an object with jsonrpc '2.0' and a method name")
        method: str = request["method"]
        params = request.get("params", [])
        if not isinstance(params, list):
            raise RpcRefusal(INVALID_REQUEST, "params must be an array")
        reason = refusal_reason(method)
        if reason is not None:
            raise RpcRefusal(METHOD_NOT_FOUND, reason)
        reason = params_refusal(method, params)
        if reason is not None:
            raise RpcRefusal(INVALID_PARAMS, reason)
        forwarded = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        if method == "eth_accounts":
            return {"jsonrpc": "2.0", "id": request_id, "result": []}  # the node holds no client accounts
        registry = self.registry.address()
        if method == "eth_getTransactionReceipt":
            # Polled many times per transaction: only a receipt that exists can show an admission, and catching up
            # after reading it still funds a newly admitted member before its client sees the receipt.
            reply = await self.upstream.forward(forwarded)
            if isinstance(reply, dict) and reply.get("result") is not None:
                await self.funding.catch_up(registry)
            return reply  # type: ignore[no-any-return]
        if method == "eth_estimateGas":
            await self.funding.catch_up(registry)
            payer = params[0].get("from") if params and isinstance(params[0], dict) else None
            await self.funding.ensure_funded(payer)
            return await self._forward_funded(forwarded, payer)
        if method == "eth_sendRawTransaction":
            tx = decode_raw_transaction(params[0] if len(params) == 1 else None)
            # The membership check and the admission scan are independent reads: one round trip instead of two.
            for outcome in await asyncio.gather(self.funding.catch_up(registry), check_transaction_allowed(self.upstream, registry, tx), return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome
            await self.funding.ensure_funded(tx.sender)
            reply = await self._forward_funded(forwarded, tx.sender)
            if isinstance(reply, dict) and "error" not in reply:
                self.funding.spent(tx.sender, tx.gas_limit * tx.gas_price + tx.value)
            return reply  # type: ignore[no-any-return]
        return await self.upstream.forward(forwarded)

    async def _forward_funded(self, forwarded: dict[str, Any], payer: object) -> Any:
        """Forward; if the node refuses for want of funds (the member's balance fell behind the gateway's
        reckoning, e.g. an operator revert took a top-up back), top the member up from its real balance and
        forward once more. The node refused the first attempt, so the second cannot execute anything twice."""
        reply = await self.upstream.forward(forwarded)
        if _insufficient_funds(reply) and await self.funding.refund(payer):
            reply = await self.upstream.forward(forwarded)
        return reply


# Methods the gateway must see one at a time: it checks or funds around them (a receipt may show an admission).
_INSPECTED = frozenset({"eth_sendRawTransaction", "eth_estimateGas", "eth_getTransactionReceipt", "eth_accounts"})


def _insufficient_funds(reply: Any) -> bool:
    error = reply.get("error") if isinstance(reply, dict) else None
    return isinstance(error, dict) and "insufficient funds" in str(error.get("message", "")).lower()


def _is_plain_read(request: Any) -> bool:
    return (
        isinstance(request, dict)
        and request.get("jsonrpc") == "2.0"
        and isinstance(request.get("method"), str)
        and isinstance(request.get("params", []), list)
        and request["method"] not in _INSPECTED
        and refusal_reason(request["method"]) is None
        and params_refusal(request["method"], request.get("params", [])) is None
        and isinstance(request.get("id"), (int, str))
    )


def _forwardable(request: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request["id"], "method": request["method"], "params": request.get("params", [])}


def create_app(upstream_url: str, deployments_file: Path, max_request_bytes: int, funding_account: LocalAccount | None) -> Starlette:
    """The gateway in front of the node at `upstream_url`. Members' top-ups are transfers signed by
    `funding_account` (geth), or `anvil_setBalance` when it is None (anvil). Durability is the node's own."""
    upstream = Upstream(upstream_url)
    payer = SetBalancePayer(upstream) if funding_account is None else TransferPayer(upstream, funding_account)
    gateway = Gateway(upstream, RegistryLocator(deployments_file), MemberFunding(upstream, payer))

    async def rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_request_bytes:
            return JSONResponse(error_response(None, REQUEST_TOO_LARGE, f"request body larger than {max_request_bytes} bytes"), status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return JSONResponse(error_response(None, REQUEST_TOO_LARGE, f"request body larger than {max_request_bytes} bytes"), status_code=413)
        try:
            # orjson, not json: the stdlib scanner overflows the C stack on deep nesting once py_ecc has raised the
            # recursion limit (a 200 KB body killed the process); orjson refuses nesting beyond 1,024 levels.
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return JSONResponse(error_response(None, PARSE_ERROR, f"parse error: the body is not valid JSON (nesting is limited to 1,024 levels): {exc}"))
        if isinstance(payload, list):
            if not payload:
                return JSONResponse(error_response(None, INVALID_REQUEST, "empty batch"))
            if len(payload) > MAX_BATCH:
                return JSONResponse(error_response(None, INVALID_REQUEST, f"batch larger than {MAX_BATCH} requests"))
            ids = [item.get("id") for item in payload if isinstance(item, dict)]
            if len(ids) != len(set(map(repr, ids))):  # replies are matched by id; duplicates go one by one
                return RpcResponse([await gateway.handle(item) for item in payload])
            return RpcResponse(await gateway.handle_batch(payload))
        return RpcResponse(await gateway.handle(payload))

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "registry": gateway.registry.address()})

    @asynccontextmanager
    async def lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        yield
        await upstream.aclose()

    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"])], lifespan=lifespan)
