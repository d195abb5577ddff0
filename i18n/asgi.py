"""The API's language per request: Accept-Language chooses it, Content-Language says which one answered.

A plain ASGI middleware (not BaseHTTPMiddleware): the context variable it sets is seen by the route, its
exception handlers and the thread pool that runs sync routes, and it is reset when the request ends.
"""

from __future__ import annotations

from typing import Any

from i18n import content_language, negotiate, use_language


class LanguageMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == b"accept-language"), None)
        language = negotiate(header)
        tag = content_language(language).encode("ascii")

        async def send_with_language(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-language"]
                headers.append((b"content-language", tag))
                # Answers differ by language: caches must key on it.
                if not any(k.lower() == b"vary" and b"accept-language" in v.lower() for k, v in headers):
                    headers.append((b"vary", b"Accept-Language"))
                message = {**message, "headers": headers}
            await send(message)

        with use_language(language):
            await self.app(scope, receive, send_with_language)
