"""JSON-RPC 2.0 error objects the gateway answers with."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Same code Besu uses when account permissioning rejects a transaction.
TRANSACTION_REFUSED = -32007
UPSTREAM_UNAVAILABLE = -32010
REQUEST_TOO_LARGE = -32011
# The chain node cannot write: its disk is full or read-only (it has stopped, or refused the write); the request was not carried out.
STORAGE_FULL = -32012


def error_response(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class RpcRefusal(Exception):
    """A request the gateway refuses; becomes a JSON-RPC error, never an HTTP failure."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
