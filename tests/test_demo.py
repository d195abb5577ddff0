"""The main job (`healthsilk demo`) runs end to end on its own network and says it behaved."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.demo_run import DEMO_LIMIT_SECONDS, demo_ports, run_demo


def test_demo_tells_the_story_and_exits_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {**os.environ, **demo_ports(), "COLUMNS": "200"}
    demo = run_demo(data_dir, env)
    out, err = demo.stdout, demo.stderr
    assert demo.returncode is not None, f"the demo did not finish within {DEMO_LIMIT_SECONDS}s:\n{out[-3000:]}{err[-3000:]}"
    assert demo.returncode == 0, out[-3000:] + err[-3000:]
    assert "admitted" in out and "is not a consortium member" in out
    assert "decrypted in Yinchuan" in out and "12 leads" in out
    assert "paid to Yinchuan" in out and "(balanced)" in out and "travel allowance" in out
    assert "Yinchuan reads again -> 403" in out
    assert "no violations" in out and (data_dir / "demo" / "audit-report.html").exists()
    assert "the demo ran as expected" in out
    assert json.loads((data_dir / "network.json").read_text())["chain_engine"] == "geth"  # what `network up` runs
    # The hospital APIs were stopped; only the network keeps running for exploration (and is stopped below).
    assert not demo.apis_left_running
