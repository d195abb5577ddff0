"""The one alert inbox (care/alerts.py) over HTTP: `GET /v1/alerts` merges every registered source's alerts;
`POST /v1/alerts/{id}/ack` hands the acknowledgement to the alert's source.

A flow that raises alerts registers a factory here (`register_alert_source`), once, at import time. When the
institution configured an outgoing webhook (care/webhooks.py), the first use of the inbox starts forwarding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from api.auth.callers import Caller, patient_or_scopes, require_scopes
from api.problems import invalid, not_found, problem_responses
from api.routers.deps import services
from api.services import Services
from care.alerts import AlertSource, merged
from i18n import _

router = APIRouter(prefix="/v1", tags=["alerts"])
SourceFactory = Callable[[Services], AlertSource]
ALERT_SOURCES: dict[str, SourceFactory] = {}


def register_alert_source(name: str, factory: SourceFactory) -> None:
    ALERT_SOURCES[name] = factory


def _emergency_source(svc: Services) -> AlertSource:
    from care.emergency_alerts import EmergencyAlerts
    from ledger.emergency import BreakGlassLedger

    return EmergencyAlerts(BreakGlassLedger(svc.ledger))


register_alert_source("emergency", _emergency_source)


def alert_sources(svc: Services) -> list[AlertSource]:
    sources = [svc._once(f"alert_source:{name}", lambda f=factory: f(svc)) for name, factory in sorted(ALERT_SOURCES.items())]
    _start_webhook(svc, sources)
    return sources


def _start_webhook(svc: Services, sources: list[AlertSource]) -> None:
    """Forward every alert to the institution's webhook, if configured (HEALTHSILK_ALERT_WEBHOOK_URL / _SECRET)."""
    from care.webhooks import AlertForwarder, WebhookConfig, WebhookOutbox

    config = WebhookConfig.from_env()
    if config is None or svc.settings.records_dir is None:
        return

    def start() -> AlertForwarder:
        outbox = WebhookOutbox(svc.settings.records_dir / "alert-outbox", config)  # type: ignore[operator]
        forwarder = AlertForwarder(lambda since: merged(sources, since_block=since), outbox)
        forwarder.start()
        return forwarder

    svc._once("alert_forwarder", start)


class AlertOut(BaseModel):
    id: str
    source: str
    kind: str
    level: str
    raised_at: int
    block: int
    raised_by: str
    raised_by_name: str | None = None
    subject: str
    details: dict[str, Any]
    acknowledged_by: list[str]


class AckOut(BaseModel):
    id: str
    transaction_hash: str


@router.get("/alerts", response_model=list[AlertOut], responses=problem_responses(401, 403, 422, 502, 503),
            summary="The alert inbox: a patient's alerts (the patient or its delegate's session), or every alert (scope read); oldest first")
def list_alerts(
    patient: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{40}$", description="only this patient's alerts (patient sessions: default their own; a delegate names its patient)"),
    since_block: int = Query(0, ge=0), caller: Caller = Depends(patient_or_scopes("read", self_param=None)), svc: Services = Depends(services),
) -> list[AlertOut]:
    if patient is not None:
        patient = to_checksum_address(patient)
    if caller.is_patient:
        patient = patient or caller.address
        caller.require_patient_self(str(patient))  # the patient, or its current delegate (asked of the chain now)
    found = merged(alert_sources(svc), patient=patient, since_block=since_block)
    return [AlertOut(**{**asdict(a), "acknowledged_by": list(a.acknowledged_by)}, raised_by_name=svc.member_name(a.raised_by)) for a in found]


@router.post("/alerts/{alert_id}/ack", response_model=AckOut, responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
             summary="Acknowledge an alert on chain as this institution (scope write), where its flow has acknowledgements")
def acknowledge(alert_id: str = Path(max_length=200), _caller: Caller = Depends(require_scopes("write")), svc: Services = Depends(services)) -> AckOut:
    name = alert_id.split(":", 1)[0]
    source = next((s for s in alert_sources(svc) if s.name == name), None)
    if source is None:
        raise not_found(_("no alert source {source}").format(source=name))
    try:
        return AckOut(id=alert_id, transaction_hash=source.acknowledge(alert_id))
    except ValueError as exc:
        raise invalid(str(exc)) from None
