"""Break-glass alerts for the one inbox (care/alerts.py): who broke the glass on whose records, why, when, until
when, which records were read since, and the review. A break-glass alert is settled by its review (patient or
privacy officer), not by an acknowledgement, so `acknowledge` refuses and says how to review."""

from __future__ import annotations

from care.alerts import Alert
from i18n import _
from ledger.emergency import BreakGlassLedger, Review, hx
from ledger.vocabulary import category_names

SOURCE = "emergency"


class EmergencyAlerts:
    """The `AlertSource` of the break-glass flow."""

    name = SOURCE

    def __init__(self, bg: BreakGlassLedger) -> None:
        self.bg = bg

    def alerts(self, *, patient: str | None = None, since_block: int = 0) -> list[Alert]:
        opened = [o for o in self.bg.opened(patient=patient) if o.block_number >= since_block]
        if not opened:
            return []
        reads: dict[bytes, list[tuple[str, int]]] = {}
        for ref, _reader, ids, block in self.bg.reads(patient=patient):
            reads.setdefault(ref, []).extend(("0x" + r.hex(), block) for r in ids)
        out = []
        for o in opened:
            access = self.bg.get(o.id)
            review = access.review if access else Review.PENDING
            out.append(Alert(
                id=f"{SOURCE}:{hx(o.id)}", source=SOURCE, kind="break-glass", level="critical" if review == Review.UNJUSTIFIED else "warning",
                raised_at=o.opened_at, block=o.block_number, raised_by=o.reader, subject=o.patient,
                details={
                    "break_glass_id": hx(o.id), "reason_code": o.reason_code.name, "reason_hash": hx(o.reason_hash),
                    "categories": category_names(o.categories), "opened_at": o.opened_at, "expires_at": o.expires_at,
                    "records_read": list(dict.fromkeys(rid for rid, _block in reads.get(o.id, []))), "review": review.name,
                    "reviewed_at": access.reviewed_at if access else None, "review_deadline": access.review_deadline if access else None,
                    "transaction_hash": o.transaction_hash,
                },
                acknowledged_by=(access.reviewer,) if access and access.reviewer else (),
            ))
        return out

    def acknowledge(self, alert_id: str) -> str:
        raise ValueError(_("a break-glass alert is settled by its review: healthsilk emergency review {id}").format(id=alert_id.split(":", 1)[-1]))
