"""Output: Rich tables for people, plain JSON for scripts (--json), errors on stderr in plain words."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from i18n import N_, _
from i18n.formatting import date_text, datetime_text
from i18n.vocabulary import category_display, joined, purpose_display
from wallet.errors import WalletError

# Consent states as the ledger names them -> what a person reads.
STATUS_NAMES = {"REVOKED": N_("revoked"), "SUPERSEDED": N_("superseded"), "EXPIRED": N_("expired"), "NONE": N_("none")}

class _Output:
    """A Console made at print time, so the current stdout/stderr and terminal width ($COLUMNS) are used."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def print(self, *objects: Any, **kwargs: Any) -> None:
        Console(stderr=self._stderr, highlight=False).print(*objects, **kwargs)


out = _Output(stderr=False)
err = _Output(stderr=True)


def emit_json(value: Any) -> None:
    """Machine-readable output: bypasses Rich so nothing is wrapped or coloured."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def error(exc: WalletError) -> None:
    err.print(_("[bold red]Error:[/] {message}").format(message=escape(exc.message)))
    if exc.hint:
        err.print(_("[bold]What to do:[/] {hint}").format(hint=escape(exc.hint)))


def info(text: str) -> None:
    """Progress / narration goes to stderr so stdout stays clean for data."""
    err.print(text)


def when(timestamp: int | None, *, date_only: bool = False) -> str:
    if not timestamp:
        return "-"
    return date_text(int(timestamp)) if date_only else datetime_text(int(timestamp))


def short(value: str | None, keep: int = 10) -> str:
    if not value:
        return "-"
    return value if len(value) <= keep + 6 else f"{value[:keep]}…{value[-4:]}"


def who(name: str | None, address: str | None) -> str:
    return f"{name} ({short(address)})" if name else short(address, 42)


def _table(title: str, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def consent_status(row: dict[str, Any], now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    status = str(row.get("status", "?"))
    if status == "ACTIVE":
        if int(row.get("valid_until") or 0) <= now:
            return _("expired")
        if int(row.get("valid_from") or 0) > now:
            return _("not yet valid")
        return _("active")
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status.lower()


def consents_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print(_("You have not granted any consent yet. Grant one with: healthsilk consent grant --to <institution> ..."))
        return
    table = _table(_("Your consents"), [_("institution"), _("status"), _("categories"), _("purposes"), _("valid"), _("records dated"), _("version")])
    for row in rows:
        data = _("any") if not row.get("data_from") and not row.get("data_until") else f"{when(row.get('data_from'), date_only=True)} → {when(row.get('data_until'), date_only=True)}"
        table.add_row(
            escape(who(row.get("grantee_name"), row.get("grantee"))),
            consent_status(row),
            joined(category_display(row.get("categories") or [])),
            joined(purpose_display(row.get("purposes") or [])),
            f"{when(row.get('valid_from'))} → {when(row.get('valid_until'))}",
            data,
            str(row.get("version", "")),
        )
    out.print(table)


def records_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print(_("No records are anchored for you yet."))
        return
    table = _table(_("Your records"), [_("record id"), _("category"), _("author"), _("anchored"), _("state")])
    table.columns[0].no_wrap = True  # the full id is what 'records show' takes: keep it copyable
    for column, width in zip(table.columns[1:], (8, 12, 10, 7)):
        column.min_width = width
    for row in rows:
        state = _("erased") if row.get("erased") else (_("supersedes {record}").format(record=short(row["supersedes"])) if _set(row.get("supersedes")) else _("current"))
        anchored = when(row.get("anchored_time"), date_only=True) if row.get("anchored_time") else _("block {number}").format(number=row.get("anchored_at", "?"))
        table.add_row(str(row.get("record_id")), joined(category_display([str(row.get("category"))])), escape(str(row.get("author_name") or short(row.get("author")))), anchored, state)
    out.print(table)
    out.print(_("Read one with: healthsilk records show <record id>"))


def access_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print(_("Nobody has read your records through the ledger yet."))
        return
    table = _table(_("Who read your records"), [_("when"), _("reader"), _("purpose"), _("records"), _("consent"), _("block")])
    for row in rows:
        records = row.get("record_ids") or []
        consent = row.get("consent_id")
        table.add_row(
            when(row.get("timestamp")),
            escape(who(row.get("reader_name"), row.get("reader"))),
            joined(purpose_display([str(row.get("purpose", ""))])),
            "\n".join(short(r) for r in records) or "-",
            short(consent) if _set(consent) else (f"{row['flow']} {short(row.get('ref'))}" if row.get("flow") else _("none (emergency access)")),
            str(row.get("block_number", "")),
        )
    out.print(table)


def key_value(title: str, pairs: list[tuple[str, str]]) -> None:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(key, escape(value))
    out.print(table)


def _set(value: Any) -> bool:
    """A 0x-hex id that is present and not all zeros."""
    return isinstance(value, str) and value.startswith("0x") and int(value[2:] or "0", 16) != 0
