"""The member institutions' API servers, started for the demo and stopped after it (tracked by PID files)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from api.auth.store import AuthStore, parse_scopes
from i18n import content_language
from network.processes import ManagedProcess
from network.settings import NetworkSettings
from wallet.demo.consortium import DEMO_PASSWORD, DIVISIONS, PLAN, SLUGS, Institution


@dataclass
class InstitutionApi:
    """One institution's running API and a token of its own systems (HIS / PACS / claims office)."""

    institution: Institution
    url: str
    token: str

    def client(self) -> httpx.Client:
        # Accept-Language: the hospital systems of the story read problem details in the demo's language.
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": content_language()}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as client:
            return client.request(method, path, **kwargs)


@contextmanager
def institution_apis(settings: NetworkSettings, institutions: list[Institution], ports: dict[str, int]) -> Iterator[dict[str, InstitutionApi]]:
    running: dict[str, InstitutionApi] = {}
    processes: list[ManagedProcess] = []
    previous = _exit_on_sigterm()
    try:
        for institution in institutions:
            slug = SLUGS[institution.name]
            data_dir = settings.root / "demo" / f"api-{slug}"
            process = ManagedProcess(f"api-{slug}", settings.run_dir, settings.log_dir)
            process.stop()  # a leftover of an interrupted demo
            url = f"http://127.0.0.1:{ports[institution.name]}"
            env = {"HEALTHSILK_MEMBER_PASSWORD": DEMO_PASSWORD, "HEALTHSILK_DATA_DIR": str(settings.root),
                   "HEALTHSILK_PUBLICHEALTH_DIVISION": DIVISIONS.get(institution.name, "")}
            process.start([sys.executable, "-m", "wallet.cli", "api", "serve", "--member-key", str(institution.key_file), "--port", str(ports[institution.name]), "--data-dir", str(data_dir)], env=env)
            processes.append(process)
            process.wait_ready(lambda url=url: httpx.get(f"{url}/health", timeout=2).status_code == 200, timeout=60)
            store = AuthStore(Path(data_dir) / "auth.sqlite3")
            try:
                token = store.create_token("demo clinical system", parse_scopes("read,write,relay"))
            finally:
                store.close()
            running[institution.name] = InstitutionApi(institution, url, token)
        yield running
    finally:
        _ignore_sigterm()  # a second SIGTERM must not cut the stopping short
        for process in processes:
            process.stop()
        _restore_sigterm(previous)


# The APIs run in sessions of their own (they outlive a CLI that only starts them), so a signal to the demo does not
# reach them: a SIGTERM (`kill`, a test's timeout) becomes SystemExit in the demo, whose `finally` above stops them.
def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # only the main thread may set signal handlers


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _exit_on_sigterm() -> Any:
    return signal.signal(signal.SIGTERM, _exit) if _on_main_thread() else None


def _ignore_sigterm() -> None:
    if _on_main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _restore_sigterm(previous: Any) -> None:
    if _on_main_thread():
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def api_ports_from_env() -> dict[str, int]:
    """Where each institution's API listens (these endpoints are also what the registry lists)."""
    return {name: demo_api_port(slug, index) for index, (name, slug, _, _) in enumerate(PLAN)}


def demo_api_port(slug: str, index: int) -> int:
    """8701, 8702 ... in admission order; `HEALTHSILK_DEMO_<SLUG>_PORT` overrides (e.g. ..._PHARMACY_LOKOSSA_PORT)."""
    return int(os.environ.get(f"HEALTHSILK_DEMO_{slug.upper().replace('-', '_')}_PORT", str(8701 + index)))
