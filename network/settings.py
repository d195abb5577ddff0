"""Where the local network lives and listens; every value can be overridden from the environment."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
ChainEngine = Literal["geth", "anvil"]


class NetworkSettings(BaseSettings):
    """Settings of one local network (a data dir, three loopback ports and the chain parameters)."""

    model_config = SettingsConfigDict(env_prefix="HEALTHSILK_", extra="ignore")

    data_dir: Path = Field(default=Path(".healthsilk"), description="where chain state, IPFS blocks and PID files live")
    chain_id: int = 7331
    gateway_port: int = 8545
    node_port: int = Field(default=8546, description="the chain node's private RPC port: the operator's and the gateway's only")
    ipfs_port: int = 5001
    base_fee_wei: int = 1_000_000_000
    chain_engine: ChainEngine = Field(default="geth", description="geth (durable; `network up`) or anvil (in memory; tests that travel in time)")
    block_gas_limit: int = 30_000_000
    geth_binary: Path = Field(default=REPO_ROOT / ".tools/bin/geth", description="go-ethereum, built by network/engines/build.sh")
    geth_cache_mb: int = Field(default=128, ge=32, description="geth's --cache (its default, 1 GiB, is sized for mainnet)")
    anvil_binary: Path = REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    ipfs_binary: Path = Field(default=REPO_ROOT / ".tools/bin/ipfs", description="Kubo, built by network/engines/build.sh")
    max_request_bytes: int = 2 * 1024 * 1024

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "NetworkSettings":
        """Settings of the network kept in `data_dir`: the ports it was started with, unless the environment says otherwise."""
        base = cls(data_dir=data_dir) if data_dir else cls()
        try:
            saved = json.loads(base.saved_file.read_text())
        except (OSError, ValueError):
            return base
        if "anvil_port" in saved:  # a data dir saved before the node port had its engine-neutral name
            saved.setdefault("node_port", saved.pop("anvil_port"))
        overrides = {key: value for key, value in saved.items() if f"HEALTHSILK_{key.upper()}" not in os.environ and key in cls.model_fields}
        return base.model_copy(update=overrides)

    def save(self) -> None:
        """Remember the ports and chain id next to the data, so later commands find the running network."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.saved_file.write_text(json.dumps({"chain_id": self.chain_id, "gateway_port": self.gateway_port, "node_port": self.node_port, "chain_engine": self.chain_engine, "ipfs_port": self.ipfs_port}))

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
    def node_url(self) -> str:
        """The chain node's private RPC (operator only; clients go through the gateway)."""
        return f"http://{LOOPBACK}:{self.node_port}"

    @property
    def anvil_port(self) -> int:
        """Former name of `node_port`, kept for callers written when the node was always anvil."""
        return self.node_port

    @property
    def anvil_url(self) -> str:
        """Former name of `node_url`."""
        return self.node_url

    @property
    def ipfs_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ipfs_port}"

    @property
    def chain_dir(self) -> Path:
        """geth's datadir (anvil keeps its chain in memory)."""
        return self.root / "chain"

    @property
    def ipfs_repo(self) -> Path:
        """Kubo's IPFS_PATH."""
        return self.root / "ipfs"

    @property
    def ipfs_api_secret_file(self) -> Path:
        """The bearer secret Kubo's RPC demands (created at first `up`, mode 0600)."""
        return self.root / "ipfs-api-secret"

    @property
    def ipfs_api_secret(self) -> str | None:
        """The RPC secret of this network's Kubo, or None before its first start."""
        from network.kubo import read_api_secret  # kubo.py imports this module

        return read_api_secret(self.ipfs_api_secret_file)

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
