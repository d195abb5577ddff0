"""Administration: minting institution API tokens (shown once, stored hashed)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from api.auth.callers import Caller, require_scopes
from api.auth.store import SCOPES, parse_scopes
from api.problems import problem_responses
from api.routers.deps import services
from api.services import Services

router = APIRouter(prefix="/v1/admin", tags=["admin"])


ScopeName = Literal["read", "write", "relay", "audit", "admin"]
assert set(ScopeName.__args__) == set(SCOPES)  # type: ignore[attr-defined]


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S")
    scopes: list[ScopeName] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        return sorted(parse_scopes(scopes))


class TokenOut(BaseModel):
    token: str = Field(description="`hs_...`: shown only this once")
    name: str
    scopes: list[str]


@router.post("/tokens", response_model=TokenOut, status_code=201, summary="Create an institution API token (scope admin)", responses=problem_responses(401, 403, 413, 422))
def create_token(body: TokenRequest, _: Caller = Depends(require_scopes("admin")), svc: Services = Depends(services)) -> TokenOut:
    token = svc.auth.create_token(body.name, frozenset(body.scopes))
    return TokenOut(token=token, name=body.name.strip(), scopes=body.scopes)
