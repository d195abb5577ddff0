"""Start, find and stop the background processes of a local network through PID files.

A PID file records the PID and the process start time (from /proc), so a PID that the kernel re-used
for someone else's process is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessError(RuntimeError):
    """A network process failed to start or to become ready."""


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may itself contain spaces.
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class LaunchSpec:
    """How a component was last started (the supervisor restarts it the same way) and the PID it got."""

    argv: list[str]
    env: dict[str, str]
    pid: int | None = None


@dataclass(frozen=True)
class ManagedProcess:
    """One named process of the network, tracked by `<run_dir>/<name>.pid`."""

    name: str
    run_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def spec_file(self) -> Path:
        return self.run_dir / f"{self.name}.spec.json"

    def spec(self) -> LaunchSpec | None:
        try:
            record = json.loads(self.spec_file.read_text())
            return LaunchSpec(argv=list(record["argv"]), env=dict(record.get("env", {})), pid=record.get("pid"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """PID of our running process, or None (a stale PID file is removed)."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        pid = int(record["pid"])
        if _start_ticks(pid) != record["start"] or _is_zombie(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # survives the CLI that started it; our signals reach only it
            )
        start = None
        for _ in range(100):
            start = _start_ticks(proc.pid)
            if start is not None:
                break
            time.sleep(0.01)
        _write_private(self.spec_file, {"argv": list(argv), "env": dict(env or {}), "pid": proc.pid})
        _write_private(self.pid_file, {"pid": proc.pid, "start": start, "argv": list(argv)})
        return proc.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM our process (SIGKILL after `timeout`); True when something was stopped. A deliberate stop also
        drops the launch spec, so no supervisor brings the process back."""
        self.spec_file.unlink(missing_ok=True)
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                break
            _reap(pid)
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill_hard(self) -> None:
        """SIGKILL, as a crash would (used by fault tests)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            for _ in range(200):
                _reap(pid)
                if _start_ticks(pid) is None or _is_zombie(pid):
                    break
                time.sleep(0.01)
            self.pid_file.unlink(missing_ok=True)

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 30.0) -> float:
        """Poll `probe` until it returns True; returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.pid() is None:
                raise ProcessError(f"{self.name} exited during start-up; see {self.log_file}:\n{self.log_tail()}")
            try:
                if probe():
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001 - any failure just means "not ready yet"
                pass
            time.sleep(0.02)
        raise ProcessError(f"{self.name} did not become ready within {timeout:.0f}s; see {self.log_file}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _write_private(path: Path, record: dict[str, object]) -> None:
    """Atomic write, readable by the owner only (argv and env may name key files)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(record))
    tmp.replace(path)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (no-op otherwise)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
