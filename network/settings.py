"""Where the local network lives and listens; every value can be overridden from the environment."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class NetworkSettings(BaseSettings):
    """Settings of one local network (a data dir, three loopback ports and the chain parameters)."""

    model_config = SettingsConfigDict(env_prefix="HEALTHSILK_", extra="ignore")

    data_dir: Path = Field(default=Path(".healthsilk"), description="where chain state, IPFS blocks and PID files live")
    chain_id: int = 7331
    gateway_port: int = 8545
    anvil_port: int = Field(default=8546, description="private operator port; clients never use it")
    ipfs_port: int = 5001
    base_fee_wei: int = 1_000_000_000
    state_interval_seconds: int = 1
    anvil_binary: Path = REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    ipfs_server_script: Path = REPO_ROOT / "network/ipfs/server.mjs"
    max_request_bytes: int = 2 * 1024 * 1024
    max_add_bytes: int = 64 * 1024 * 1024

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "NetworkSettings":
        """Settings of the network kept in `data_dir`: the ports it was started with, unless the environment says otherwise."""
        base = cls(data_dir=data_dir) if data_dir else cls()
        try:
            saved = json.loads(base.saved_file.read_text())
        except (OSError, ValueError):
            return base
        overrides = {key: value for key, value in saved.items() if f"HEALTHSILK_{key.upper()}" not in os.environ and key in cls.model_fields}
        return base.model_copy(update=overrides)

    def save(self) -> None:
        """Remember the ports and chain id next to the data, so later commands find the running network."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.saved_file.write_text(json.dumps({"chain_id": self.chain_id, "gateway_port": self.gateway_port, "anvil_port": self.anvil_port, "ipfs_port": self.ipfs_port}))

    @property
    def saved_file(self) -> Path:
        return self.root / "network.json"

    @cached_property
    def root(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def anvil_url(self) -> str:
        return f"http://{LOOPBACK}:{self.anvil_port}"

    @property
    def ipfs_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ipfs_port}"

    @property
    def chain_dir(self) -> Path:
        return self.root / "chain"

    @property
    def anvil_state_file(self) -> Path:
        return self.chain_dir / "state.json"

    @property
    def durable_state_file(self) -> Path:
        """Snapshot the gateway writes before it hands out a receipt (survives kill -9 of anvil)."""
        return self.chain_dir / "durable-state.json"

    @property
    def ipfs_repo(self) -> Path:
        return self.root / "ipfs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def operator_file(self) -> Path:
        return self.root / "operator.json"

    @property
    def deployments_file(self) -> Path:
        return self.root / "deployments" / f"{self.chain_id}.json"
