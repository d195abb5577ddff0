"""`healthsilk audit ...`: replay the ledger from its events and check every rule (mounted by wallet/cli.py).

Exit codes: 0 every rule held, 1 violations found (listed, and in the report), 2 the audit could not run.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from i18n import N_, _, resolve_language, set_language
from i18n.formatting import number_text
from ledger.audit.fetch import AuditFetchError
from ledger.audit.html import render_html
from ledger.audit.replay import AuditError, AuditOptions, run_audit
from ledger.audit.report import write_report
from ledger.chain import Ledger
from ledger.events import DEFAULT_MAX_BLOCK_RANGE, EventReadError
from network.kubo import KuboError
from network.settings import NetworkSettings

app = typer.Typer(help="Audit the ledger: rebuild it from its events and prove every rule held.", no_args_is_help=True)
console = Console(stderr=True)

PHASES = {"fetch": N_("fetching events (blocks)"), "replay": N_("replaying events"), "views": N_("comparing with contract views"), "deep": N_("re-verifying payloads in IPFS")}


@app.command()
def replay(
    from_block: Annotated[Optional[int], typer.Option("--from-block", help="first block to judge [default: the contracts' deployment]")] = None,
    to_block: Annotated[Optional[int], typer.Option("--to-block", help="last block [default: the chain head]")] = None,
    deep: Annotated[bool, typer.Option("--deep", help="also fetch every payload from IPFS and re-verify sha256, CID and batch proofs")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="write the JSON report here")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="write the HTML report here")] = None,
    max_block_range: Annotated[int, typer.Option("--max-block-range", min=1, help="blocks per eth_getLogs request")] = DEFAULT_MAX_BLOCK_RANGE,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="resume from / save the replay state in this file")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="the network's data dir [default: .healthsilk or $HEALTHSILK_DATA_DIR]")] = None,
    lang: Annotated[Optional[str], typer.Option("--lang", help="language of the HTML report and the summary: en, zh or fr [default: healthsilk --lang, $HEALTHSILK_LANG, the locale]")] = None,
) -> None:
    """Fetch every event of every contract, rebuild the ledger, check each rule, compare with the contracts."""
    if lang is not None:
        language = resolve_language(lang)
        if language is None:
            raise typer.BadParameter(f"unknown language {lang!r}; choose from en, zh (zh_Hans), fr", param_hint="--lang")
        set_language(language)  # the rest of this run: progress, summary and the HTML report (<html lang=...>)
    settings = NetworkSettings.load(data_dir)
    try:
        ledger = Ledger.open(settings.gateway_url, settings.deployments_file)
        options = AuditOptions(from_block, to_block, deep, settings.ipfs_url, max_block_range, checkpoint, ipfs_secret=settings.ipfs_api_secret if deep else None)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=False) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(_(PHASES[phase]) if phase in PHASES else phase, total=max(total, 1))
                bar.update(tasks[phase], completed=done, total=max(total, 1))

            result = run_audit(ledger, options, progress)
    except (AuditError, AuditFetchError, LookupError, EventReadError, ValueError, KuboError) as exc:
        console.print(_("[red]audit failed:[/red] {error}").format(error=exc))
        raise typer.Exit(2) from None
    except (ConnectionError, OSError) as exc:  # requests' and urllib3's connection errors are OSErrors too
        reason = unreachable_reason(exc)
        if reason is None:
            console.print(_("[red]audit failed:[/red] {error}").format(error=exc))
        else:
            console.print(
                _("[red]cannot reach the network:[/red] its permissioning gateway at {gateway_url} {reason}. Start the network with `healthsilk network up`, or point --data-dir (or $HEALTHSILK_DATA_DIR) at the network you mean.").format(gateway_url=settings.gateway_url, reason=reason)
            )
        raise typer.Exit(2) from None

    report = result.report
    if out is not None:
        write_report(report, out)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(report), encoding="utf-8")
    _summary(report, result.checkpoint_note)
    raise typer.Exit(1 if result.violations else 0)


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection failed, in words, found in the exception's chain (requests wraps urllib3 wraps the socket
    error); None when `exc` is no connection failure (e.g. an unreadable file)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return _("does not answer: nothing listens on that port (connection refused)")
        if isinstance(current, socket.gaierror):
            return _("cannot be found: the host name does not resolve")
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return _("did not answer in time")
        if isinstance(current, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return _("dropped the connection")
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
    if isinstance(exc, ConnectionError) or type(exc).__module__.split(".")[0] in ("requests", "urllib3", "httpx"):
        return _("could not be reached")
    return None


def _summary(report: dict, checkpoint_note: str) -> None:  # type: ignore[type-arg]
    body = report["report"]
    out = Console()
    rng, totals = body["range"], body["totals"]
    out.print(_("blocks {from_block}..{to_block}: {events} events, {checkpoint_note}").format(from_block=rng['from_block'], to_block=rng['to_block'], events=number_text(totals['events']), checkpoint_note=checkpoint_note))
    table = Table(_("rule"), _("result"))
    for rule in body["rules"]:
        result = _("[dim]not checked[/dim]") if not rule["checked"] else (_("[green]held[/green]") if not rule["violations"] else _("[red]{count} violation(s)[/red]").format(count=rule["violations"]))
        table.add_row(rule["id"], result)
    out.print(table)
    for v in body["violations"][:50]:
        out.print(_("[red]block {block}[/red] {tx} [bold]{rule}[/bold]: {explanation}").format(block=v['block'], tx=v['tx'] or _("(end-block state)"), rule=v['rule'], explanation=v['explanation']))
    if len(body["violations"]) > 50:
        out.print(_("... and {count} more (see the report)").format(count=len(body['violations']) - 50))
    out.print(_("digest {digest}").format(digest=report['digest']))
