"""`healthsilk network ...` commands."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from i18n import _
from network.launcher import LocalNetwork
from network.settings import NetworkSettings
from network.supervisor import RestartRecord

app = typer.Typer(help="Run the local permissioned network (chain node, permissioning gateway, IPFS node).", no_args_is_help=True)
console = Console()

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="where the network keeps its data [default: .healthsilk or $HEALTHSILK_DATA_DIR]")]


def _network(data_dir: Path | None) -> LocalNetwork:
    return LocalNetwork(NetworkSettings.load(data_dir))


@app.command()
def up(
    data_dir: DataDir = None,
    genesis: Annotated[Optional[Path], typer.Option(help="consortium genesis JSON (founding members, quorum); default: the operator alone governs")] = None,
) -> None:
    """Start the network (idempotent: what already runs is left alone) and deploy the contracts."""
    network = _network(data_dir)
    report = network.up(genesis)
    for name, seconds in report.started.items():
        console.print(f"{name:8} " + (_("started, ready in {seconds} s").format(seconds=f"{seconds:.2f}") if seconds is not None else _("already running")))
    if report.restored_height is not None:
        console.print(_("chain resumed from its datadir at block {restored_height}").format(restored_height=report.restored_height))
    console.print(_("deployed: {contracts}").format(contracts=", ".join(report.deployed) if report.deployed else _("nothing new (already deployed)")))
    if report.supervised:
        console.print(_("supervisor: watching the chain node, Kubo and the gateway (restarts them if they die)"))
    _print_status(network)


@app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop the processes `up` started; the data stays."""
    stopped = _network(data_dir).down()
    console.print(_("stopped: {services}").format(services=", ".join(stopped) if stopped else _("nothing was running")))


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Show which services run, where they listen and where they log."""
    _print_status(_network(data_dir))


@app.command()
def reset(
    data_dir: DataDir = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Stop the network and wipe its data dir (chain, IPFS blocks, keys of the operator)."""
    network = _network(data_dir)
    if not yes:
        typer.confirm(f"Wipe {network.settings.root}?", abort=True)
    network.reset()
    console.print(_("wiped {root}").format(root=network.settings.root))


@app.command()
def allowlist(
    out: Annotated[Path, typer.Option("--out", help="where to write Besu's accounts-allowlist TOML")],
    data_dir: DataDir = None,
) -> None:
    """Write Besu's accounts allowlist from the on-chain registry's active members."""
    from ledger.chain import Ledger
    from network.allowlist import collect_active_members, write_accounts_allowlist

    settings = _network(data_dir).settings
    ledger = Ledger.open(settings.gateway_url, settings.deployments_file)
    written = write_accounts_allowlist(out, collect_active_members(ledger.contract("ConsortiumRegistry")))
    console.print(_("wrote {count} active member accounts to {out}").format(count=len(written), out=out))


def _print_status(network: LocalNetwork) -> None:
    for name, info in network.status().items():
        state = _("running (pid {pid})").format(pid=info["pid"]) if info["pid"] else _("stopped")
        console.print(_("{name:10} {state:22} {url}   [dim]log: {log}[/dim]").format(name=name, state=state, url=info['url'], log=info['log']))
        restarts = info["restarts"]
        if isinstance(restarts, RestartRecord) and restarts.count:
            when = datetime.fromtimestamp(restarts.last_restart or 0, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            console.print(_("{indent:10} [yellow]restarted {count}x by the supervisor, last at {when} (it had ended by {last_exit})[/yellow]").format(indent='', count=restarts.count, when=when, last_exit=restarts.last_exit))
    console.print(_("deployments: {deployments_file}").format(deployments_file=network.settings.deployments_file))
