"""The consortium's founding members, fixed when the registry is deployed."""

from __future__ import annotations

from pathlib import Path

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, Field, field_validator

from ledger.roles import Role, parse_roles


class GenesisMember(BaseModel):
    address: str
    name: str = Field(min_length=1, max_length=64)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    roles: list[str]
    hpke_public_key: str = Field(description="0x-hex of the suite-prefixed HPKE public key")
    endpoint: str = Field(default="", max_length=256)

    @field_validator("address")
    @classmethod
    def _checksum(cls, value: str) -> str:
        if not is_address(value):
            raise ValueError(f"not an Ethereum address: {value}")
        return to_checksum_address(value)

    @property
    def role_flags(self) -> Role:
        return parse_roles(self.roles)

    def as_member_input(self) -> tuple[str, str, bytes, int, bytes, str]:
        return (self.address, self.name, self.country.encode(), int(self.role_flags), bytes.fromhex(self.hpke_public_key.removeprefix("0x")), self.endpoint)


class ConsortiumGenesis(BaseModel):
    members: list[GenesisMember] = Field(min_length=1)
    quorum: int = Field(ge=1, le=255)
    proposal_lifetime_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=365 * 24 * 3600)

    @classmethod
    def load(cls, path: Path) -> "ConsortiumGenesis":
        return cls.model_validate_json(path.read_text())

    @classmethod
    def operator_only(cls, operator_address: str) -> "ConsortiumGenesis":
        """A development default: the operator alone governs (quorum 1) until a real genesis is given."""
        return cls(
            members=[GenesisMember(address=operator_address, name="Network operator", country="CN", roles=["GOVERNOR"], hpke_public_key="0x00", endpoint="")],
            quorum=1,
        )
