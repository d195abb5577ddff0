"""The main job (`healthsilk demo`) runs end to end on its own network and says it behaved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from wallet.demo.consortium import PLAN


def test_demo_tells_the_story_and_exits_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    ports = {name: str(free_port()) for name in ("GATEWAY_PORT", "NODE_PORT", "IPFS_PORT", *(f"DEMO_{slug.upper().replace('-', '_')}_PORT" for _, slug, _, _ in PLAN))}
    env = {**os.environ, **{f"HEALTHSILK_{name}": port for name, port in ports.items()}, "COLUMNS": "200"}
    try:
        result = subprocess.run([sys.executable, "-m", "wallet.cli", "demo", "--data-dir", str(data_dir)], env=env, capture_output=True, text=True, timeout=1800)  # a ceiling for a loaded machine
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        out = result.stdout
        assert "admitted" in out and "is not a consortium member" in out
        assert "decrypted in Yinchuan" in out and "12 leads" in out
        assert "paid to Yinchuan" in out and "(balanced)" in out and "travel allowance" in out
        assert "Yinchuan reads again -> 403" in out
        assert "no violations" in out and (data_dir / "demo" / "audit-report.html").exists()
        assert "the demo ran as expected" in out
        assert json.loads((data_dir / "network.json").read_text())["chain_engine"] == "geth"  # what `network up` runs
        # The hospital APIs were stopped; only the network keeps running for exploration (and is stopped below).
        assert not list((data_dir / "run").glob("api-*.pid"))
    finally:
        subprocess.run([sys.executable, "-m", "wallet.cli", "network", "down", "--data-dir", str(data_dir)], env=env, capture_output=True, timeout=60)
