"""Small shared dependencies of the routers."""

from __future__ import annotations

from fastapi import Request

from api.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
