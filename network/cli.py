"""`healthsilk network ...` commands."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from network.launcher import LocalNetwork
from network.supervisor import RestartRecord
from network.settings import NetworkSettings

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
        console.print(f"{name:8} " + (f"started, ready in {seconds:.2f}s" if seconds is not None else "already running"))
    if report.restored_height is not None:
        console.print(f"chain resumed from its datadir at block {report.restored_height}")
    console.print("deployed: " + (", ".join(report.deployed) if report.deployed else "nothing new (already deployed)"))
    if report.supervised:
        console.print("supervisor: watching the chain node, Kubo and the gateway (restarts them if they die)")
    _print_status(network)


@app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop the processes `up` started; the data stays."""
    stopped = _network(data_dir).down()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


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
    console.print(f"wiped {network.settings.root}")


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
    console.print(f"wrote {len(written)} active member accounts to {out}")


def _print_status(network: LocalNetwork) -> None:
    for name, info in network.status().items():
        state = f"running (pid {info['pid']})" if info["pid"] else "stopped"
        console.print(f"{name:10} {state:22} {info['url']}   [dim]log: {info['log']}[/dim]")
        restarts = info["restarts"]
        if isinstance(restarts, RestartRecord) and restarts.count:
            when = datetime.fromtimestamp(restarts.last_restart or 0, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            console.print(f"{'':10} [yellow]restarted {restarts.count}x by the supervisor, last at {when} (it had ended by {restarts.last_exit})[/yellow]")
    console.print(f"deployments: {network.settings.deployments_file}")
