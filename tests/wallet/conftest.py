"""A real institution API (uvicorn on loopback) in front of the real session network, for wallet end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from crypto import Identity
from tests.conftest import RunningNetwork
from tests.support.members import admit_member
from tests.support.served_api import served_api

CHEAP_SCRYPT_N = "1024"  # tests only: the wallet's default stays 2**18
PASSWORD = "correct horse battery"


@dataclass
class Institution:
    identity: Identity
    name: str
    country: str

    @property
    def address(self) -> str:
        return self.identity.address


def admit(chain: RunningNetwork, label: str, name: str, country: str, roles: list[str], endpoint: str = "") -> Institution:
    """The member `label`, admitted once per network by a 2-of-3 governor vote, with a real HPKE key."""
    return Institution(admit_member(chain, label, name, country, roles, endpoint), name, country)


@dataclass
class ApiServer:
    url: str
    institution: Institution
    data_dir: Path
    app: Any

    def token(self, *scopes: str) -> str:
        """An institution API token (what `healthsilk api token create` makes)."""
        return str(self.app.state.services.auth.create_token("wallet-e2e", frozenset(scopes)))

    def client(self, *scopes: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token(*scopes)}"}, timeout=60)


@pytest.fixture
def chain(geth_network: RunningNetwork) -> RunningNetwork:
    """Wallet end-to-end tests run on geth, as `network up` does: nothing is reverted, each test has its own patient."""
    return geth_network


@pytest.fixture
def hospital(chain: RunningNetwork) -> Institution:
    return admit(chain, "wallet-e2e-lokossa", "Lokossa Heart Clinic", "BJ", ["PROVIDER"])


@contextmanager
def running_api(chain: RunningNetwork, institution: Institution, data_dir: Path, port: int | None = None) -> Iterator[ApiServer]:
    """An institution's API served by uvicorn in a thread on a loopback port (tests/support/served_api.py)."""
    with served_api(chain, institution.identity, data_dir, port=port, name=f"wallet-e2e-{institution.name}") as served:
        assert httpx.get(f"{served.url}/health").json()["status"] == "ok"
        yield ApiServer(served.url, institution, data_dir, served.app)


@pytest.fixture
def hospital_api(chain: RunningNetwork, hospital: Institution, tmp_path: Path) -> Iterator[ApiServer]:
    """The hospital's API, one per test (its own data dir)."""
    with running_api(chain, hospital, tmp_path / "hospital-api") as server:
        yield server


@pytest.fixture
def wallet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment of a patient's wallet: its file in tmp, password from the environment, cheap KDF."""
    wallet = tmp_path / "patient" / "wallet.json"
    monkeypatch.setenv("HEALTHSILK_WALLET", str(wallet))
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", PASSWORD)
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", CHEAP_SCRYPT_N)
    monkeypatch.delenv("HEALTHSILK_API_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "240")  # wide tables, so assertions see whole names and ids
    return wallet
