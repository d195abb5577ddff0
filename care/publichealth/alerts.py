"""Outbreak alerts for the one inbox (care/alerts.py): disease, place, ISO week and level; never patient data.

Raised on chain by a rule (the reporting member, in the same transaction as its report) or by hand by a PUBLIC_HEALTH
member; every member acknowledges on chain.
"""

from __future__ import annotations

from care.alerts import Alert
from care.publichealth.diseases import by_code
from i18n import _
from ledger.publichealth import LEVELS, RULE_NAMES, OutbreakAlert, PublicHealthReports
from ledger.transactions import TransactionSender

SOURCE = "publichealth"


def place(alert: OutbreakAlert) -> str:
    return alert.country + (f"-{alert.division}" if alert.division else "")


class OutbreakAlerts:
    """The `AlertSource` of public-health reporting (`name` "publichealth", `kind` "outbreak")."""

    name = SOURCE

    def __init__(self, ph: PublicHealthReports, sender: TransactionSender | None = None) -> None:
        self.ph = ph
        self.sender = sender

    def alerts(self, *, patient: str | None = None, since_block: int = 0) -> list[Alert]:
        if patient is not None:
            return []  # outbreak alerts concern places, never a patient
        acks = self.ph.acknowledgements()
        out = []
        for a in self.ph.alerts(since_block=since_block):
            known = by_code(a.disease)
            out.append(Alert(
                id=f"{SOURCE}:{a.alert_id}", source=SOURCE, kind="outbreak", level=LEVELS.get(a.level, "warning"),
                raised_at=self._time(a.block_number), block=a.block_number, raised_by=a.raised_by, subject=place(a),
                details={"alert_id": a.alert_id, "disease": a.disease, "disease_name": known.name if known else a.disease, "week": a.week,
                         "rule": RULE_NAMES.get(a.rule, str(a.rule)), "report_id": a.report_id, "transaction_hash": a.transaction_hash},
                acknowledged_by=tuple(acks.get(a.alert_id, [])),
            ))
        return out

    def acknowledge(self, alert_id: str) -> str:
        if self.sender is None:
            raise ValueError(_("this reader cannot acknowledge: it acts for no institution"))
        return self.ph.acknowledge(self.sender, parse_alert_id(alert_id))

    def _time(self, block: int) -> int:
        return int(self.ph.ledger.w3.eth.get_block(block)["timestamp"])


def parse_alert_id(alert_id: str | int) -> int:
    """"publichealth:7" or 7 -> 7; ValueError otherwise."""
    text = str(alert_id)
    source, sep, number = text.rpartition(":")
    if (sep and source != SOURCE) or not number.isdigit() or int(number) < 1:
        raise ValueError(_("{id} is not a public-health alert id (publichealth:<number>)").format(id=text))
    return int(number)
