"""Figures of the audited range: totals, per institution, per programme, and hourly time series.

Collected while replaying (only for events inside the audited range); per-country figures are derived from
the institutions' countries when the report is built. Everything is JSON-native so it fits in a checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.audit.fetch import ChainEvent
from ledger.audit.state import EMERGENCY_PURPOSE, AuditState, hx

INSTITUTION_FIGURES = (
    "records_anchored", "record_versions", "batches_anchored", "batched_records", "access_events", "records_read", "emergency_reads",
    "consents_received", "revocations_received", "claims_submitted", "claims_paid", "amount_paid", "programmes", "escrow_funded", "cash_disbursed",
)


def hour_bucket(timestamp: int) -> str:
    """UTC hour of a block time, e.g. "2025-05-02T09"."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H")


@dataclass
class Stats:
    events: int = 0
    first_block: int = 0
    last_block: int = 0
    event_counts: dict[str, int] = field(default_factory=dict)
    institutions: dict[str, dict[str, int]] = field(default_factory=dict)
    programmes: dict[str, dict[str, int]] = field(default_factory=dict)  # programme id -> figures
    # series[kind][key][hour] = count or amount; kind: accesses / records (key: institution), claims / payments (key: programme)
    series: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    patients_seen: int = 0

    def count(self, ev: ChainEvent, state: AuditState) -> None:
        """Account for `ev` (call before applying it, like the checks)."""
        self.events += 1
        if not self.first_block:
            self.first_block = ev.block
        self.last_block = ev.block
        self.event_counts[ev.name] = self.event_counts.get(ev.name, 0) + 1
        handler = getattr(self, "_on_" + ev.name, None)
        if handler is not None:
            handler(ev, ev.args, state)

    def _inst(self, account: str, figure: str, amount: int = 1) -> None:
        figures = self.institutions.setdefault(account, dict.fromkeys(INSTITUTION_FIGURES, 0))
        figures[figure] += amount

    def _prog(self, programme_id: int, figure: str, amount: int = 1) -> None:
        figures = self.programmes.setdefault(str(programme_id), {})
        figures[figure] = figures.get(figure, 0) + amount

    def _series(self, kind: str, key: str, timestamp: int, amount: int = 1) -> None:
        hours = self.series.setdefault(kind, {}).setdefault(key, {})
        bucket = hour_bucket(timestamp)
        hours[bucket] = hours.get(bucket, 0) + amount

    def _on_RecordAnchored(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["author"], "records_anchored")
        if hx(a["supersedes"]) != "0x" + "00" * 32:
            self._inst(a["author"], "record_versions")
        self._series("records", a["author"], ev.timestamp)

    def _on_RecordBatchAnchored(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["author"], "batches_anchored")
        self._inst(a["author"], "batched_records", a["count"])
        self._series("records", a["author"], ev.timestamp, a["count"])

    def _on_RecordsAccessed(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        reader, n = a["reader"], len(a["recordIds"])
        self._inst(reader, "access_events")
        self._inst(reader, "records_read", n)
        if a["purpose"] == EMERGENCY_PURPOSE:  # under a consent that covers EMERGENCY
            self._inst(reader, "emergency_reads", n)
        self._series("accesses", reader, ev.timestamp, n)

    def _on_CareRecordsAccessed(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        """Reads a care flow authorised (case, break-glass, prescription): counted with the others; break-glass
        reads (purpose EMERGENCY) are the emergency reads."""
        reader, n = a["reader"], len(a["recordIds"])
        self._inst(reader, "access_events")
        self._inst(reader, "records_read", n)
        if a["purpose"] == EMERGENCY_PURPOSE:
            self._inst(reader, "emergency_reads", n)
        self._series("accesses", reader, ev.timestamp, n)

    def _on_ConsentGranted(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["grantee"], "consents_received")

    def _on_ConsentRevoked(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["grantee"], "revocations_received")

    def _on_ProgrammeCreated(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["payer"], "programmes")

    def _on_EscrowFunded(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["payer"], "escrow_funded", a["amount"])
        self._prog(a["programmeId"], "funded", a["amount"])

    def _on_EscrowWithdrawn(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._prog(a["programmeId"], "withdrawn", a["amount"])

    def _on_CardIssued(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._prog(a["programmeId"], "cards_issued")

    def _on_ClaimSubmitted(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["provider"], "claims_submitted")
        card = state.card(a["cardId"])
        if card is not None:
            self._prog(card.programme_id, "claims_submitted")
            self._prog(card.programme_id, "amount_claimed", a["amount"])
            self._series("claims", str(card.programme_id), ev.timestamp)

    def _on_ClaimPaid(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        self._inst(a["provider"], "claims_paid")
        self._inst(a["provider"], "amount_paid", a["amount"])
        self._prog(a["programmeId"], "claims_paid")
        self._prog(a["programmeId"], "amount_paid", a["amount"])
        if a["confirmationOverridden"]:
            self._prog(a["programmeId"], "paid_with_override")
        self._series("payments", str(a["programmeId"]), ev.timestamp, a["amount"])

    def _on_ClaimRejected(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        card = state.card(a["cardId"])
        if card is not None:
            self._prog(card.programme_id, "claims_rejected")

    def _on_CashDisbursed(self, ev: ChainEvent, a: dict[str, Any], state: AuditState) -> None:
        programme = state.programme(a["programmeId"])
        if programme is not None:
            self._inst(programme.payer, "cash_disbursed", a["amount"])
        self._prog(a["programmeId"], "cash_disbursed", a["amount"])
        self._series("payments", str(a["programmeId"]), ev.timestamp, a["amount"])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Stats":
        return cls(**data)
