"""The main job (`healthsilk demo`) runs end to end on its own network and says it behaved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port


def test_demo_tells_the_story_and_exits_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {**os.environ, "HEALTHSILK_GATEWAY_PORT": str(free_port()), "HEALTHSILK_ANVIL_PORT": str(free_port()), "HEALTHSILK_IPFS_PORT": str(free_port()), "COLUMNS": "200"}
    try:
        result = subprocess.run([sys.executable, "-m", "wallet.cli", "demo", "--data-dir", str(data_dir)], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "admitted" in result.stdout
        assert "is not a consortium member" in result.stdout
        assert "the demo ran as expected" in result.stdout
    finally:
        subprocess.run([sys.executable, "-m", "wallet.cli", "network", "down", "--data-dir", str(data_dir)], env=env, capture_output=True, timeout=60)
