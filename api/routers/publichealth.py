"""Public-health reporting (issue 15) over HTTP: thin routes over `care.publichealth.service.PublicHealthService`.

- a member previews and anchors its weekly report (built here, from its own records, in this process);
- a PUBLIC_HEALTH member reads the dashboard (JSON or HTML) and raises alerts by hand;
- every member lists outbreak alerts and acknowledges them on chain.

The institution's first-level division (ISO 3166-2 suffix, e.g. "MO" for Mono, Benin) comes from
HEALTHSILK_PUBLICHEALTH_DIVISION: the registry keeps only the country.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.auth.callers import Caller, require_scopes
from api.problems import ProblemError, forbidden, invalid, problem_responses
from api.routers.alerts import register_alert_source
from api.routers.deps import services
from api.services import Services
from api.upstream_errors import revert_problem
from care.publichealth.alerts import OutbreakAlerts, parse_alert_id
from care.publichealth.dashboard import Dashboard, render_html
from care.publichealth.service import (
    PublicHealthError,
    PublicHealthInputError,
    PublicHealthService,
    dashboard_of,
)
from i18n import _
from ledger.errors import ContractRevert
from ledger.publichealth import iso_week, previous_weeks
from ledger.roles import Role
from records.clients import RecordClients

router = APIRouter(prefix="/v1/publichealth", tags=["public health"])
RESPONSES = problem_responses(401, 403, 404, 409, 422, 502, 503)
FORBIDDEN_REVERTS = {"MissingRole", "NotActiveMember"}
Week = Annotated[int, Field(ge=200001, le=999953, description="ISO week as year * 100 + week, e.g. 202650")]


class ReportIn(BaseModel):
    week: Week
    correction: bool = Field(default=False, description="a correction of this institution's latest report for the week")


class AlertIn(BaseModel):
    disease: str = Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", description="ICD-10 code, e.g. A00")
    country: str = Field(pattern=r"^[A-Z]{2}$")
    division: str = Field(default="", pattern=r"^[A-Z0-9]{0,8}$")
    week: Week
    level: int = Field(ge=1, le=3, description="1 info, 2 warning, 3 critical")


class ReportOut(BaseModel):
    report_id: int
    member: str
    week: int
    cid: str
    content_hash: str
    supersedes: int
    is_correction: bool
    encrypted: bool
    k: int
    late: bool
    block_number: int
    transaction_hash: str
    alerts: list[int] = Field(default_factory=list)
    suppressed_cells: int | None = None
    published_cells: int | None = None


class PreviewOut(BaseModel):
    week: int
    region: str
    k: int
    suppressed_cells: int
    measure_report: dict[str, Any]


class _NoOutbreakAlerts:
    """The source on a chain without PublicHealthReports (deployed by migration m008): no alerts."""

    name = "publichealth"

    def alerts(self, *, patient: str | None = None, since_block: int = 0) -> list[Any]:
        return []

    def acknowledge(self, alert_id: str) -> str:
        raise ValueError(_("public-health reporting is not deployed on this chain"))


def _outbreak_source(svc: Services) -> Any:
    from ledger.publichealth import PublicHealthReports

    if not PublicHealthReports.deployed(svc.ledger):
        return _NoOutbreakAlerts()
    return OutbreakAlerts(PublicHealthReports(svc.ledger), svc.sender)


register_alert_source("publichealth", _outbreak_source)


def publichealth_service(svc: Services) -> PublicHealthService:
    """One service per app: it shares the institution's transaction pipeline and caches decrypted cases."""
    division = os.environ.get("HEALTHSILK_PUBLICHEALTH_DIVISION", "")
    return svc._once("publichealth_service", lambda: PublicHealthService(
        svc.identity, RecordClients.open(svc.ledger, svc.settings.ipfs_api or ""), svc.sender, division=division))


@contextmanager
def _refusals(svc: Services) -> Iterator[None]:
    try:
        yield
    except PublicHealthInputError as exc:
        raise invalid(str(exc)) from None
    except PublicHealthError as exc:
        raise ProblemError(409, "publichealth-refused", _("Refused"), str(exc)) from None
    except ValueError as exc:
        raise invalid(str(exc)) from None
    except ContractRevert as exc:
        problem = revert_problem(exc)
        if exc.name in FORBIDDEN_REVERTS:
            problem.status = 403
        elif exc.name in ("FutureWeek", "InvalidWeek", "InvalidAlert", "InvalidPlace", "UnknownAlert"):
            problem.status = 422
        raise problem from None


def _require_public_health(svc: Services) -> None:
    if not svc.registry.has_active_role(Role.PUBLIC_HEALTH, svc.address):
        raise forbidden(_("this institution ({member}) does not hold the PUBLIC_HEALTH role").format(member=svc.address))


def _report_out(r: Any, alerts: list[int] | None = None, suppressed: int | None = None, published: int | None = None) -> ReportOut:
    from records.cid import cid_to_text

    return ReportOut(
        report_id=r.report_id, member=r.member, week=r.week, cid=cid_to_text(r.cid), content_hash="0x" + r.content_hash.hex(), supersedes=r.supersedes,
        is_correction=r.is_correction, encrypted=r.encrypted, k=r.k, late=r.late, block_number=r.block_number, transaction_hash=r.transaction_hash,
        alerts=alerts or [], suppressed_cells=suppressed, published_cells=published,
    )


@router.get("/parameters", responses=RESPONSES, summary="The consortium's small-cell threshold and publication mode")
def parameters(_caller: Caller = Depends(require_scopes("read")), svc: Services = Depends(services)) -> dict[str, Any]:
    return publichealth_service(svc).ph.parameters().model_dump()


@router.get("/reports/{week}/preview", response_model=PreviewOut, responses=RESPONSES, summary="This institution's report for a week, as it would be anchored")
def preview(week: Annotated[int, Path(ge=200001, le=999953)], correction: Annotated[bool | None, Query(description="default: a correction when the week is already reported")] = None,
            _caller: Caller = Depends(require_scopes("read")), svc: Services = Depends(services)) -> PreviewOut:
    with _refusals(svc):
        service = publichealth_service(svc)
        if correction is None:
            correction = service.ph.latest_report(svc.address, week) != 0
        built = service.build(week, correction)
    return PreviewOut(week=week, region=built.region, k=built.published.k, suppressed_cells=len(built.published.suppressed()), measure_report=built.report)


@router.post("/reports", response_model=ReportOut, status_code=201, responses=RESPONSES, summary="Build, seal (or publish) and anchor this institution's weekly report")
def submit(body: ReportIn, _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services)) -> ReportOut:
    with _refusals(svc):
        sent = publichealth_service(svc).submit(body.week, body.correction)
    return _report_out(sent.anchored, [a.alert_id for a in sent.alerts], sent.suppressed_cells, sent.published_cells)


@router.get("/reports", response_model=list[ReportOut], responses=RESPONSES, summary="Anchored reports (no payloads), oldest first")
def reports(week: Annotated[int | None, Query(ge=200001, le=999953)] = None, member: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
            _caller: Caller = Depends(require_scopes("read", "audit")), svc: Services = Depends(services)) -> list[ReportOut]:
    with _refusals(svc):
        return [_report_out(r) for r in publichealth_service(svc).ph.reports(member=member, week=week)]


@router.get("/dashboard", response_model=Dashboard, responses=RESPONSES, summary="Weekly series per disease and country, members not reported (PUBLIC_HEALTH)")
def dashboard(first_week: Annotated[int | None, Query(ge=200001, le=999953)] = None, last_week: Annotated[int | None, Query(ge=200001, le=999953)] = None,
              format: Literal["json", "html"] = "json", _caller: Caller = Depends(require_scopes("read")), svc: Services = Depends(services)) -> Any:
    _require_public_health(svc)
    last = last_week or iso_week(svc.chain_time())
    first = first_week or previous_weeks(last, 7)[0]
    with _refusals(svc):
        board = dashboard_of(publichealth_service(svc), first, last)
    if format == "html":
        return HTMLResponse(render_html(board), headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
    return board


@router.get("/alerts", responses=RESPONSES, summary="Outbreak alerts, oldest first")
def alerts(since_block: Annotated[int, Query(ge=0)] = 0, _caller: Caller = Depends(require_scopes("read", "audit")), svc: Services = Depends(services)) -> list[dict[str, Any]]:
    source = OutbreakAlerts(publichealth_service(svc).ph, svc.sender)
    return [asdict(a) for a in source.alerts(since_block=since_block)]


@router.post("/alerts", status_code=201, responses=RESPONSES, summary="Raise an outbreak alert by hand (PUBLIC_HEALTH)")
def raise_alert(body: AlertIn, _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services)) -> dict[str, Any]:
    with _refusals(svc):
        alert = publichealth_service(svc).ph.raise_alert(svc.sender, body.disease, body.country, body.division, body.week, body.level)
    return alert.model_dump()


@router.post("/alerts/{alert_id}/acknowledge", responses=RESPONSES, summary="Acknowledge an outbreak alert on chain")
def acknowledge(alert_id: Annotated[str, Path(pattern=r"^(publichealth:)?[0-9]{1,19}$")], _caller: Caller = Depends(require_scopes("write")),
                svc: Services = Depends(services)) -> dict[str, Any]:
    with _refusals(svc):
        number = parse_alert_id(alert_id)
        tx = OutbreakAlerts(publichealth_service(svc).ph, svc.sender).acknowledge(str(number))
    return {"alert_id": f"publichealth:{number}", "acknowledged_by": svc.address, "transaction_hash": tx}
