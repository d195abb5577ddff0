"""The `healthsilk` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from network.cli import app as network_app

app = typer.Typer(help="healthsilk: patient-owned health records and consent on a permissioned ledger.", no_args_is_help=True)
app.add_typer(network_app, name="network")


@app.command()
def demo(data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="data dir of the demo network (wiped first)")] = None) -> None:
    """Run the main job: the cross-border story on a fresh local network, narrated and checked."""
    from wallet.demo import run_demo  # imported lazily: the demo pulls in every layer

    raise typer.Exit(run_demo(data_dir))

if __name__ == "__main__":
    app()
