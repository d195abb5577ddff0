"""Typed access to PublicHealthReports: consortium parameters, weekly report anchors, outbreak alerts.

ISO weeks are `year * 100 + week` (202650) on chain and here; `week_start` mirrors the contract's `weekStart`.
Disease codes are ICD-10 codes as ASCII bytes8; places are an ISO 3166-1 country and an optional ISO 3166-2
subdivision suffix ("BJ" + "MO" for Mono, Benin).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from eth_utils import to_checksum_address
from pydantic import BaseModel, Field
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain import Ledger
from ledger.errors import ErrorDecoder
from ledger.transactions import TransactionSender

CONTRACT = "PublicHealthReports"
RULE_MANUAL, RULE_IMMEDIATE, RULE_BASELINE = 0, 1, 2
RULE_NAMES = {RULE_MANUAL: "manual", RULE_IMMEDIATE: "immediately-notifiable", RULE_BASELINE: "above-baseline"}
LEVELS = {1: "info", 2: "warning", 3: "critical"}
REPORTING_GRACE = 3 * 86400


# ---------------------------------------------------------------------------------------------- weeks and codes


def iso_week(timestamp: int) -> int:
    """The ISO week (year * 100 + week) a unix time falls in (UTC)."""
    year, week, _ = dt.datetime.fromtimestamp(int(timestamp), dt.UTC).isocalendar()
    return year * 100 + week


def week_start(week: int) -> int:
    """Monday 00:00 UTC of ISO week `week`; ValueError for a week that does not exist."""
    year, number = divmod(int(week), 100)
    try:
        day = dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{week} is not an ISO week (year * 100 + week, e.g. 202650)") from None
    if year < 2000:
        raise ValueError(f"{week} is before 2000")
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def previous_weeks(week: int, count: int) -> list[int]:
    """The `count` ISO weeks before `week`, oldest first."""
    start = week_start(week)
    return [iso_week(start - 7 * 86400 * i) for i in range(count, 0, -1)]


def week_range(first: int, last: int) -> list[int]:
    """Every ISO week from `first` to `last`, both included."""
    weeks, t = [], week_start(first)
    while t <= week_start(last):
        weeks.append(iso_week(t))
        t += 7 * 86400
    return weeks


def code8(code: str) -> bytes:
    """An ICD-10 code ("A00", "B54") as the contract's bytes8; ValueError when it cannot be one."""
    if not isinstance(code, str) or not 1 <= len(code) <= 8 or not code.isascii() or not code.replace(".", "").isalnum():
        raise ValueError(f"a disease code is an ICD-10 code of 1..8 ASCII characters, got {code!r}")
    return code.encode("ascii").ljust(8, b"\x00")


def text8(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\x00").decode("ascii", "replace")


def country2(country: str) -> bytes:
    if not isinstance(country, str) or len(country) != 2 or not country.isascii() or not country.isupper() or not country.isalpha():
        raise ValueError(f"a country is an ISO 3166-1 alpha-2 code in capitals, got {country!r}")
    return country.encode("ascii")


# ---------------------------------------------------------------------------------------------- models


class RuleAlertInput(BaseModel):
    disease: str
    country: str
    division: str = ""
    level: int = Field(ge=1, le=3)
    rule: int = Field(ge=1, le=2)

    def as_tuple(self) -> tuple[bytes, bytes, bytes, int, int]:
        return (code8(self.disease), country2(self.country), self.division.encode("ascii").ljust(8, b"\x00")[:8], self.level, self.rule)


class ReportAnchor(BaseModel):
    """What a member anchors for one week."""

    week: int
    content_hash: bytes
    cid: bytes
    supersedes: int = 0
    is_correction: bool = False
    encrypted: bool = True
    k: int = 5
    rule_alerts: list[RuleAlertInput] = Field(default_factory=list)


class AnchoredReport(BaseModel):
    report_id: int
    member: str
    week: int
    content_hash: bytes
    cid: bytes
    supersedes: int
    is_correction: bool
    encrypted: bool
    k: int
    late: bool
    block_number: int
    transaction_hash: str
    timestamp: int = 0


class OutbreakAlert(BaseModel):
    alert_id: int
    raised_by: str
    week: int
    disease: str
    country: str
    division: str
    level: int
    rule: int
    report_id: int
    block_number: int
    transaction_hash: str
    raised_at: int = 0


class Parameters(BaseModel):
    k: int
    encrypted: bool


# ---------------------------------------------------------------------------------------------- the wrapper


class PublicHealthReports:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract(CONTRACT)

    @staticmethod
    def deployed(ledger: Ledger) -> bool:
        return CONTRACT in ledger.deployments.contracts

    @property
    def decoder(self) -> ErrorDecoder:
        """Every project contract's errors, this one's included."""
        return self.ledger.decoder

    def send(self, sender: TransactionSender, function: ContractFunction) -> TxReceipt:
        """One call; refusals surface as ContractRevert named after this contract's custom error."""
        return self.ledger.transact(sender, function)

    # --- parameters ------------------------------------------------------------------------------
    def parameters(self) -> Parameters:
        k, encrypted = self.contract.functions.parameters().call()
        return Parameters(k=int(k), encrypted=bool(encrypted))

    def propose_parameters(self, governor: TransactionSender, k: int, encrypted: bool) -> int:
        receipt = self.send(governor, self.contract.functions.proposeParameters(int(k), bool(encrypted)))
        return int(self._one(receipt, "ParametersProposed")["proposalId"])

    def approve_parameters(self, governor: TransactionSender, proposal_id: int) -> Parameters:
        receipt = self.send(governor, self.contract.functions.approveParameters(int(proposal_id)))
        args = self._one(receipt, "ParametersChanged")
        return Parameters(k=int(args["k"]), encrypted=bool(args["encrypted"]))

    # --- reports ---------------------------------------------------------------------------------
    def submit_function(self, anchor: ReportAnchor) -> ContractFunction:
        week_start(anchor.week)  # a clear error before the chain's
        if len(anchor.content_hash) != 32 or not anchor.cid:
            raise ValueError("a report anchor needs a 32-byte content hash and a CID")
        return self.contract.functions.submitReport(
            anchor.week, anchor.content_hash, anchor.cid, anchor.supersedes, anchor.is_correction, anchor.encrypted, anchor.k,
            [a.as_tuple() for a in anchor.rule_alerts],
        )

    def submit_report(self, member: TransactionSender, anchor: ReportAnchor) -> tuple[AnchoredReport, list[OutbreakAlert]]:
        receipt = self.send(member, self.submit_function(anchor))
        report = _report(self._one_log(receipt, "ReportSubmitted"))
        alerts = [_alert(log) for log in self.contract.events.AlertRaised().process_receipt(receipt, errors=DISCARD)]
        return report, alerts

    def report(self, report_id: int) -> dict[str, Any] | None:
        raw = self.contract.functions.report(int(report_id)).call()
        if int(str(raw[0]), 16) == 0:
            return None
        member, week, submitted_at, supersedes, superseded_by, is_correction, encrypted, k, content_hash = raw
        return {"member": member, "week": week, "submitted_at": submitted_at, "supersedes": supersedes, "superseded_by": superseded_by,
                "is_correction": is_correction, "encrypted": encrypted, "k": k, "content_hash": bytes(content_hash)}

    def latest_report(self, member: str, week: int) -> int:
        return int(self.contract.functions.latestReport(to_checksum_address(member), int(week)).call())

    def reports(self, member: str | None = None, week: int | None = None) -> list[AnchoredReport]:
        indexed: dict[str, Any] = {}
        if member is not None:
            indexed["member"] = to_checksum_address(member)
        if week is not None:
            indexed["week"] = int(week)
        return [_report_event(e) for e in self.ledger.events(CONTRACT, "ReportSubmitted", **indexed)]

    # --- alerts ----------------------------------------------------------------------------------
    def raise_alert(self, member: TransactionSender, disease: str, country: str, division: str, week: int, level: int) -> OutbreakAlert:
        receipt = self.send(member, self.contract.functions.raiseAlert(
            code8(disease), country2(country), division.encode("ascii").ljust(8, b"\x00")[:8], int(week), int(level)))
        return _alert(self._one_log(receipt, "AlertRaised"))

    def acknowledge(self, member: TransactionSender, alert_id: int) -> str:
        receipt = self.send(member, self.contract.functions.acknowledge(int(alert_id)))
        return receipt["transactionHash"].to_0x_hex()

    def alerts(self, since_block: int = 0) -> list[OutbreakAlert]:
        return [_alert_event(e) for e in self.ledger.events(CONTRACT, "AlertRaised") if e.block_number >= since_block]

    def acknowledgements(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for e in self.ledger.events(CONTRACT, "AlertAcknowledged"):
            out.setdefault(int(e.args["alertId"]), []).append(to_checksum_address(e.args["member"]))
        return out

    def is_acknowledged(self, alert_id: int, member: str) -> bool:
        return bool(self.contract.functions.isAcknowledged(int(alert_id), to_checksum_address(member)).call())

    # --- helpers ---------------------------------------------------------------------------------
    def _one_log(self, receipt: TxReceipt, event: str) -> Any:
        logs = self.contract.events[event]().process_receipt(receipt, errors=DISCARD)
        if len(logs) != 1:
            raise RuntimeError(f"expected one {event} event in the receipt, found {len(logs)}")
        return logs[0]

    def _one(self, receipt: TxReceipt, event: str) -> Any:
        return self._one_log(receipt, event)["args"]


def _report_fields(args: Any) -> dict[str, Any]:
    return dict(
        report_id=int(args["reportId"]), member=to_checksum_address(args["member"]), week=int(args["week"]), content_hash=bytes(args["contentHash"]),
        cid=bytes(args["cid"]), supersedes=int(args["supersedes"]), is_correction=bool(args["isCorrection"]), encrypted=bool(args["encrypted"]),
        k=int(args["k"]), late=bool(args["late"]),
    )


def _alert_fields(args: Any) -> dict[str, Any]:
    return dict(
        alert_id=int(args["alertId"]), raised_by=to_checksum_address(args["raisedBy"]), week=int(args["week"]), disease=text8(args["disease"]),
        country=bytes(args["country"]).decode("ascii", "replace"), division=text8(args["division"]), level=int(args["level"]),
        rule=int(args["rule"]), report_id=int(args["reportId"]),
    )


def _report(log: Any) -> AnchoredReport:
    return AnchoredReport(**_report_fields(log["args"]), block_number=log["blockNumber"], transaction_hash=log["transactionHash"].to_0x_hex())


def _alert(log: Any) -> OutbreakAlert:
    return OutbreakAlert(**_alert_fields(log["args"]), block_number=log["blockNumber"], transaction_hash=log["transactionHash"].to_0x_hex())


def _report_event(e: Any) -> AnchoredReport:
    return AnchoredReport(**_report_fields(e.args), block_number=e.block_number, transaction_hash="0x" + bytes(e.transaction_hash).hex())


def _alert_event(e: Any) -> OutbreakAlert:
    return OutbreakAlert(**_alert_fields(e.args), block_number=e.block_number, transaction_hash="0x" + bytes(e.transaction_hash).hex())
