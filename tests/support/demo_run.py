"""Running `healthsilk demo` as a test does: on its own free ports, in a process group of its own, and always
stopped afterwards: its group, the institution APIs it may have left, and its network."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from network.processes import ManagedProcess
from network.settings import NetworkSettings
from tests.conftest import free_port
from wallet.demo.consortium import PLAN

DEMO_LIMIT_SECONDS = 2400  # a ceiling for a loaded machine (two suites, or stress-ng on both cores), not a duration


@dataclass(frozen=True)
class DemoRun:
    returncode: int | None  # None: it did not finish within the ceiling (and was stopped)
    stdout: str
    stderr: str
    apis_left_running: tuple[str, ...] = ()  # the PID files of institution APIs the demo had not stopped when it ended


def demo_ports() -> dict[str, str]:
    """Free ports for the network and every institution's API, as HEALTHSILK_* variables."""
    names = ("GATEWAY_PORT", "NODE_PORT", "IPFS_PORT", *(f"DEMO_{slug.upper().replace('-', '_')}_PORT" for _, slug, _, _ in PLAN))
    return {f"HEALTHSILK_{name}": str(free_port()) for name in names}


def run_demo(data_dir: Path, env: dict[str, str], limit: float = DEMO_LIMIT_SECONDS) -> DemoRun:
    """Run the demo to its end (or the ceiling), then stop everything it started."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "wallet.cli", "demo", "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        try:
            out, err = demo.communicate(timeout=limit)
            left = tuple(sorted(p.name for p in NetworkSettings(data_dir=data_dir).run_dir.glob("api-*.pid")))
            return DemoRun(demo.returncode, out, err, left)
        except subprocess.TimeoutExpired:
            out, err = _stop_demo(demo)
            return DemoRun(None, out, err)
    finally:
        _stop_demo(demo)
        _stop_leftover_apis(NetworkSettings(data_dir=data_dir))
        subprocess.run([sys.executable, "-m", "wallet.cli", "network", "down", "--data-dir", str(data_dir)], env=env, capture_output=True, timeout=120, check=False)


def _stop_demo(demo: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop the demo's own process group (it was started in a session of its own, so the group is only the demo
    and what it ran in the foreground): SIGTERM first, so the demo stops its institution APIs, then SIGKILL.
    Returns what it still wrote (read while it stops, so a full pipe cannot hold it up)."""
    if demo.poll() is not None:
        return "", ""
    os.killpg(demo.pid, signal.SIGTERM)
    try:
        return demo.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(demo.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return demo.communicate(timeout=30)


def _stop_leftover_apis(settings: NetworkSettings) -> None:
    """APIs of a demo killed before it could stop them, by the PID files the demo wrote (start time checked)."""
    for pid_file in settings.run_dir.glob("api-*.pid"):
        ManagedProcess(pid_file.name.removesuffix(".pid"), settings.run_dir, settings.log_dir).stop()
