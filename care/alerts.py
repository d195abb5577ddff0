"""The one alert inbox that every care flow feeds (break-glass alerts, outbreak alerts ...).

Alerts are on chain as events of the flow contracts; each flow that raises alerts registers an `AlertSource`
that reads its events and, where the flow has them, acknowledges on chain. Every institution's API serves the
merged inbox (`GET /v1/alerts`) and `healthsilk alerts` shows it; neither knows the flows by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Alert:
    """One alert as every reader sees it. No personal data: addresses, codes, ids and times only."""

    id: str  # globally unique: "<source>:<flow's own id>", e.g. "emergency:0x12ab..."
    source: str  # the flow that raised it: "emergency", "publichealth" ...
    kind: str  # e.g. "break-glass", "outbreak"
    level: str  # "info" | "warning" | "critical"
    raised_at: int  # block timestamp
    block: int
    raised_by: str  # member address (or the contract, for an alert raised by a rule)
    subject: str = ""  # the patient's address (break-glass), the place (outbreak) ...
    details: dict[str, Any] = field(default_factory=dict)  # codes, times, record ids: the flow's own fields
    acknowledged_by: tuple[str, ...] = ()  # members that acknowledged it on chain


class AlertSource(Protocol):
    """A flow's alerts. `name` is the `Alert.source` it produces."""

    name: str

    def alerts(self, *, patient: str | None = None, since_block: int = 0) -> list[Alert]:
        """Alerts of this flow, oldest first; `patient`: only that patient's (wallet inbox)."""
        ...

    def acknowledge(self, alert_id: str) -> str:
        """Acknowledges on chain as this institution; returns the transaction hash. ValueError if the flow's
        alerts are not acknowledged by members."""
        ...


def merged(sources: list[AlertSource], *, patient: str | None = None, since_block: int = 0) -> list[Alert]:
    """Every source's alerts in one inbox, oldest first."""
    found = [alert for source in sources for alert in source.alerts(patient=patient, since_block=since_block)]
    return sorted(found, key=lambda a: (a.block, a.id))
