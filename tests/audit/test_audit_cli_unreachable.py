"""`healthsilk audit replay` against a network that is down says so in words, with exit code 2."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from network.settings import NetworkSettings
from tests.conftest import free_port
from wallet.cli import app


def test_audit_with_the_network_down_explains_itself(tmp_path: Path) -> None:
    closed = free_port()  # bound and released: nothing listens there
    NetworkSettings(data_dir=tmp_path, gateway_port=closed, node_port=free_port(), ipfs_port=free_port()).save()
    result = CliRunner().invoke(app, ["audit", "replay", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "nothing listens on that port" in result.output and f"127.0.0.1:{closed}" in result.output
    assert "HTTPConnectionPool" not in result.output and "Traceback" not in result.output
