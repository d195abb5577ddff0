"""Keep the local network's components running: restart one that dies, with backoff, and count the restarts.

`network up` starts this watchdog as a process of its own next to the components. It reads each component's
launch spec (argv and extra environment, written by `ManagedProcess.start`) and, when the component's process is
gone, starts it again: at once the first time, then after 1, 2, 4 ... 30 s while it keeps dying within
`STABLE_SECONDS` of its start. Every restart is logged to logs/supervisor.log and counted in run/restarts.json,
which `network status` shows. `network down` stops the watchdog first, so a deliberate stop is never undone.

Run: python -m network.supervisor --data-dir DIR --component gateway --component ipfs ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from network.processes import ManagedProcess

STABLE_SECONDS = 10.0  # a process that ran this long before dying starts a fresh backoff series
MAX_BACKOFF_SECONDS = 30.0
POLL_SECONDS = 0.25
RESTARTS_FILE = "restarts.json"

log = logging.getLogger("healthsilk.supervisor")


@dataclass
class RestartRecord:
    """What `network status` shows for one component."""

    count: int = 0
    last_restart: float | None = None
    last_exit: str | None = None


@dataclass
class _Watch:
    process: ManagedProcess
    started_at: float = field(default_factory=time.monotonic)
    streak: int = 0  # restarts in a row without reaching STABLE_SECONDS
    next_attempt: float = 0.0
    down_since: float | None = None


def restarts_path(run_dir: Path) -> Path:
    return run_dir / RESTARTS_FILE


def read_restarts(run_dir: Path) -> dict[str, RestartRecord]:
    try:
        raw = json.loads(restarts_path(run_dir).read_text())
        return {name: RestartRecord(**record) for name, record in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def backoff_seconds(streak: int) -> float:
    """0 for the first restart of a series, then 1, 2, 4 ... capped."""
    return 0.0 if streak == 0 else min(MAX_BACKOFF_SECONDS, 2.0 ** (streak - 1))


class Supervisor:
    def __init__(self, run_dir: Path, log_dir: Path, components: list[str]) -> None:
        self.run_dir = run_dir
        self.watches = {name: _Watch(ManagedProcess(name, run_dir, log_dir)) for name in components}
        self.records = read_restarts(run_dir)
        self.exits: dict[int, str] = {}
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log.info("supervising %s", ", ".join(self.watches))
        while not self.stopping:
            self._reap()
            for name, watch in self.watches.items():
                self._check(name, watch)
            time.sleep(POLL_SECONDS)
        log.info("supervisor stopped")

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def _reap(self) -> None:
        """Collect exit statuses of components this watchdog restarted (its own children)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exits[pid] = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"

    def _check(self, name: str, watch: _Watch) -> None:
        now = time.monotonic()
        if watch.process.pid() is not None:
            return
        spec = watch.process.spec()
        if spec is None:
            return  # never started by `up` (or its spec was removed): nothing to restore
        if watch.down_since is None:
            watch.down_since = now
            if now - watch.started_at >= STABLE_SECONDS:
                watch.streak = 0
            watch.next_attempt = now + backoff_seconds(watch.streak)
            log.warning("%s is down (it ran %.1fs); restarting in %.1fs", name, now - watch.started_at, watch.next_attempt - now)
        if now < watch.next_attempt:
            return
        try:
            pid = watch.process.start(spec.argv, spec.env)
        except OSError as exc:
            log.error("%s could not be restarted: %s", name, exc)
            watch.streak += 1
            watch.next_attempt = now + backoff_seconds(watch.streak)
            return
        record = self.records.setdefault(name, RestartRecord())
        record.count += 1
        record.last_restart = time.time()
        record.last_exit = self._last_exit(spec.pid)
        watch.started_at, watch.down_since = now, None
        watch.streak += 1
        self._save()
        log.warning("%s restarted as pid %d (restart #%d, previous run ended by %s)", name, pid, record.count, record.last_exit)

    def _last_exit(self, previous_pid: int | None) -> str:
        return self.exits.pop(previous_pid, "an unknown cause (not our child)") if previous_pid is not None else "unknown"

    def _save(self) -> None:
        target = restarts_path(self.run_dir)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({name: asdict(record) for name, record in self.records.items()}, indent=1))
        tmp.replace(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--component", action="append", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    Supervisor(args.run_dir, args.log_dir, args.component).run()


if __name__ == "__main__":
    main()
