"""API settings from the environment (prefix HEALTHSILK_API_); chain and IPFS default to the local network's."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from network.settings import LOOPBACK, NetworkSettings

MIB = 1024 * 1024


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHSILK_API_", extra="ignore", populate_by_name=True)

    data_dir: Path | None = Field(default=None, description="tokens and sessions live here [default: <network data dir>/api]")
    host: str = LOOPBACK
    port: int = 8701
    gateway_url: str | None = Field(default=None, description="the permissioning gateway [default: the local network's]")
    deployments_file: Path | None = Field(default=None, description="deployments/<chainId>.json [default: the local network's]")
    ipfs_api: str | None = Field(
        default=None, validation_alias=AliasChoices("HEALTHSILK_API_IPFS_API", "HEALTHSILK_IPFS_API"), description="Kubo RPC API [default: the local network's]"
    )
    records_dir: Path | None = Field(default=None, description="record service spool and key store [default: <data dir>/records]")
    max_body_bytes: int = Field(default=8 * MIB, gt=0)
    challenge_ttl_seconds: int = Field(default=300, gt=0)
    patient_token_ttl_seconds: int = Field(default=900, gt=0)
    consent_deadline_seconds: int = Field(default=600, gt=0)

    def resolved(self) -> "ApiSettings":
        """A copy with every default that depends on the local network filled in."""
        network = NetworkSettings.load()
        data_dir = (self.data_dir or network.root / "api").expanduser().resolve()
        return self.model_copy(
            update={
                "data_dir": data_dir,
                "gateway_url": self.gateway_url or network.gateway_url,
                "deployments_file": self.deployments_file or network.deployments_file,
                "ipfs_api": self.ipfs_api or network.ipfs_url,
                "records_dir": self.records_dir or data_dir / "records",
            }
        )

    @property
    def token_db(self) -> Path:
        assert self.data_dir is not None, "call resolved() first"
        return self.data_dir / "auth.sqlite3"
