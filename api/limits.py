"""Request body limits, enforced before anything reads the body: its size (declared or streamed) and, for JSON
bodies, that it parses with bounded nesting.

eth_account imports py_ecc, which raises Python's recursion limit to 100,000; the stdlib `json` C scanner then
overflows the C stack on a body nested 100,000 deep and kills the process. So every JSON body is parsed first by
orjson, which refuses nesting beyond 1,024 levels, and only a body that parsed reaches the framework.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ProblemError, problem_response
from i18n import _
from i18n.formatting import number_text


def too_large(limit: int) -> ProblemError:
    return ProblemError(413, "payload-too-large", _("Request body too large"), _("request bodies are limited to {limit} bytes").format(limit=limit))


def malformed_json(reason: str) -> ProblemError:
    return ProblemError(422, "malformed-json", _("Malformed JSON body"), _("the request body is not valid JSON (nesting is limited to {levels} levels): {reason}").format(levels=number_text(1024), reason=reason))


class BodyTooLarge(HTTPException):
    """Raised from receive() mid-stream; an HTTPException so the framework passes it through to our handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request bodies are limited to {limit} bytes")  # internal; the handler answers with too_large()
        self.limit = limit


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope.get("headers", [])).get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type == b"application/json" or content_type.endswith(b"+json")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem_response(too_large(self.max_bytes))(scope, receive, send)
            return
        if _is_json(scope):
            await self._checked_json(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _checked_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole (bounded) body, parse it with orjson, then hand the framework the same bytes."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await problem_response(too_large(self.max_bytes))(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if body:
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                await problem_response(malformed_json(str(exc)))(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)
