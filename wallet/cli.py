"""The `healthsilk` command line."""

from __future__ import annotations

import typer

from network.cli import app as network_app

app = typer.Typer(help="healthsilk: patient-owned health records and consent on a permissioned ledger.", no_args_is_help=True)
app.add_typer(network_app, name="network")

if __name__ == "__main__":
    app()
