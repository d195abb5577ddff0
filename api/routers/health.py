"""Liveness, readiness (chain, IPFS, this institution's membership) and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from api.auth.callers import Caller, require_scopes
from api.problems import ProblemError, problem_responses
from api.routers.deps import services
from api.services import Services
from i18n import _

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Check(BaseModel):
    ok: bool
    detail: str


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, Check]


@router.get("/health", response_model=Health, summary="Liveness (no auth, no data)")
def health() -> Health:
    return Health()


@router.get("/ready", response_model=Ready, summary="Readiness: chain, IPFS and this institution's membership (no auth)", responses=problem_responses(503))
def ready(svc: Services = Depends(services)) -> Ready:
    checks: dict[str, Check] = {}
    try:
        head = svc.ledger.w3.eth.block_number
        checks["chain"] = Check(ok=True, detail=f"gateway answers, head block {head}")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the detail says which
        checks["chain"] = Check(ok=False, detail=f"gateway unreachable or deployments missing: {type(exc).__name__}: {exc}"[:300])
    try:
        checks["ipfs"] = Check(ok=True, detail=f"IPFS node {svc.ipfs.version()}")
    except Exception as exc:  # noqa: BLE001
        checks["ipfs"] = Check(ok=False, detail=f"IPFS node unreachable: {exc}"[:300])
    if checks["chain"].ok:
        try:
            member = svc.member(svc.address)
            active = member is not None and member.active
            checks["membership"] = Check(ok=active, detail=f"{svc.address} is {'an active member' if active else 'not an active member'}")
        except Exception as exc:  # noqa: BLE001
            checks["membership"] = Check(ok=False, detail=f"registry read failed: {exc}"[:300])
    if not all(check.ok for check in checks.values()) or len(checks) < 3:
        failing = ", ".join(name for name, check in checks.items() if not check.ok) or "membership"
        raise ProblemError(503, "not-ready", _("Not ready"), _("not ready: {failing}").format(failing=failing), headers={"Retry-After": "5"}, checks={k: v.model_dump() for k, v in checks.items()})
    return Ready(checks=checks)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}, **problem_responses(401, 403)},
)
def metrics(_: Caller = Depends(require_scopes("admin", "audit")), svc: Services = Depends(services)) -> Response:
    return Response(svc.metrics.render(), media_type=svc.metrics.content_type)


