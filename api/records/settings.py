"""Record service settings, read from the environment (HEALTHSILK_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecordSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHSILK_", extra="ignore")

    records_dir: Path = Field(default=Path(".healthsilk/records"), description="per-institution spool and key store live under <records_dir>/<address>")
    ipfs_api: str = Field(default="http://127.0.0.1:5001", description="Kubo RPC API (embedded node or a real Kubo)")
    ipfs_timeout_seconds: float = 60.0
    max_resource_bytes: int = Field(default=32 * 1024 * 1024, description="largest canonical FHIR JSON accepted by put")

    def data_dir_for(self, address: str) -> Path:
        return self.records_dir.expanduser().resolve() / address.lower()
