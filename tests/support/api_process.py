"""An institution's API in a process of its own (`healthsilk api serve`), for drills that kill it with SIGKILL.

`admit_institution` writes a key file and has the governors admit its identity (with its HPKE key) as a provider,
so the process serves a real member. `ApiProcess` starts, kills and restarts the API on one data dir and port,
so its spool, key store and tokens survive a crash exactly as they would in production. `consenting_patient`
registers a patient and relays her consent through the API, signing in the test as her wallet would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from api.auth.store import SCOPES, AuthStore
from crypto import HpkePrivateKey, Identity, create_identity
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.sandbox import Sandbox, free_port
from tests.support.chain_clock import chain_now
from tests.support.wallet_calls import relay_signed

HEALTHSILK = Path(sys.executable).with_name("healthsilk")
PASSWORD = "drill-member-key"
START_TIMEOUT_SECONDS = 180.0  # a ceiling for a loaded machine: start() returns as soon as /health answers


def admit_institution(net: Sandbox, label: str, directory: Path, country: str = "BJ") -> tuple[Identity, Path]:
    """A fresh provider: its key file under `directory`, admitted by a 2-of-3 governor vote."""
    keyfile, identity = create_identity(PASSWORD, scrypt_n=1024)
    path = directory / f"{label}.key.json"
    keyfile.save(path)
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    application = MemberApplication(
        address=identity.address, name=f"Drill {label}", country=country, roles=["PROVIDER"], hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=""
    )
    registry.approve(ledger.sender(net.governors[1]), registry.propose_admission(ledger.sender(net.governors[0]), application))
    return identity, path


@dataclass
class ApiProcess:
    """`healthsilk api serve` for one member key, on a fixed port and data dir across restarts."""

    net: Sandbox
    key_file: Path
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def create_token(self) -> str:
        """A token with every scope, stored (hashed) in the API's data dir before it starts."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = AuthStore(self.data_dir / "auth.sqlite3")
        try:
            return store.create_token("drill", frozenset(SCOPES))
        finally:
            store.close()

    def start(self) -> float:
        """Start and wait until /health answers; returns the seconds it took."""
        assert self.process is None or self.process.poll() is not None, "the API is already running"
        s = self.net.settings
        env = {
            **os.environ, "HEALTHSILK_MEMBER_PASSWORD": PASSWORD, "HEALTHSILK_API_GATEWAY_URL": s.gateway_url,
            "HEALTHSILK_API_DEPLOYMENTS_FILE": str(s.deployments_file), "HEALTHSILK_IPFS_API": s.ipfs_url,
            "HEALTHSILK_IPFS_API_SECRET_FILE": str(s.ipfs_api_secret_file),
        }
        argv = [str(HEALTHSILK), "api", "serve", "--member-key", str(self.key_file), "--port", str(self.port), "--data-dir", str(self.data_dir)]
        began = time.monotonic()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.starts += 1
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() - began > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"the API did not start (exit {self.process.poll()}); see {self.log_file}:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill_hard(self) -> None:
        """SIGKILL, as a crash would: no shutdown hook runs, nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def spooled(self) -> list[Path]:
        """Sealed objects of puts that have not finished (the record service's spool, on disk)."""
        return sorted(self.data_dir.glob("records/*/spool/*.hsro"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def consenting_patient(client: httpx.Client, net: Sandbox, grantee: str, categories: tuple[str, ...] = ("LAB", "ECG")) -> Identity:
    """A new patient, registered with her HPKE key, whose consent to `grantee` (TREATMENT) runs for a day of chain time."""
    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
    relay_signed(client, patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
    now = chain_now(net.w3)
    grant = {"action": "grant", "patient": patient.address, "grantee": grantee, "categories": list(categories), "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 86_400}
    relay_signed(client, patient, grant)
    return patient


def lab_result(drill: str, index: int) -> dict[str, Any]:
    """A small, valid FHIR lab Observation, distinct per (drill, index) so each put is a new record."""
    return {
        "resourceType": "Observation", "status": "final", "id": f"{drill}-{index}",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": "Patient/example"}, "effectiveDateTime": "2024-05-02T08:00:00Z",
        "valueQuantity": {"value": 4.0 + index / 100, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }
