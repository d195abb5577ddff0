"""Record service settings, read from the environment (HEALTHSILK_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecordSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHSILK_", extra="ignore")

    records_dir: Path = Field(default=Path(".healthsilk/records"), description="per-institution spool and key store live under <records_dir>/<address>")
    ipfs_api: str = Field(default="http://127.0.0.1:5001", description="Kubo RPC API (its secret comes from HEALTHSILK_IPFS_API_SECRET or HEALTHSILK_IPFS_API_SECRET_FILE)")
    ipfs_timeout_seconds: float = 60.0
    max_resource_bytes: int = Field(default=32 * 1024 * 1024, description="largest canonical FHIR JSON accepted by put")
    access_log_window_seconds: float = Field(default=0.1, ge=0, le=10, description="while an access-log transaction is in flight, how long pending reads wait for it before another is sent alongside")
    access_log_max_batch: int = Field(default=256, ge=1, le=1024, description="most access entries per logAccessBatch transaction")
    access_log_max_in_flight: int = Field(default=4, ge=1, le=64, description="access-log transactions awaiting their receipts at once")
    put_batch_window_seconds: float = Field(default=0.02, ge=0, le=10, description="while an anchor transaction is in flight, how long pending puts wait for it before another is sent alongside")
    put_max_batch: int = Field(default=128, ge=1, le=1024, description="most records per anchorBatch transaction (1: every record anchored on its own)")
    put_max_in_flight: int = Field(default=1, ge=1, le=64, description="anchor transactions awaiting their receipts at once")
    read_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0, description="verified sealed objects kept in memory (ciphertext only)")

    def data_dir_for(self, address: str) -> Path:
        return self.records_dir.expanduser().resolve() / address.lower()
