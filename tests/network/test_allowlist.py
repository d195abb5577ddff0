"""`healthsilk network allowlist` writes Besu's accounts allowlist from the live registry."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from ledger.registry import ConsortiumRegistry
from tests.conftest import RunningNetwork
from wallet.cli import app


def test_allowlist_lists_exactly_the_active_members(chain: RunningNetwork, tmp_path: Path) -> None:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    suspended = chain.governors[2].address
    proposal = registry.propose_suspension(ledger.sender(chain.governors[0]), suspended, "audit finding")
    registry.approve(ledger.sender(chain.governors[1]), proposal)

    out = tmp_path / "accounts-allowlist.toml"
    result = CliRunner().invoke(app, ["network", "allowlist", "--out", str(out), "--data-dir", str(chain.settings.root)])
    assert result.exit_code == 0, result.output
    listed = tomllib.loads(out.read_text())["accounts-allowlist"]
    assert listed == sorted(governor.address for governor in chain.governors[:2])
    assert suspended not in listed
