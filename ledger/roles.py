"""Consortium roles: names, the uint8 bit flags the registry uses in proposals, and AccessControl ids."""

from __future__ import annotations

from enum import IntFlag

from eth_utils import keccak


class Role(IntFlag):
    GOVERNOR = 1
    PROVIDER = 2
    PAYER = 4
    PHARMACY = 8
    AUDITOR = 16
    EMERGENCY = 32
    PRIVACY_OFFICER = 64  # reviews break-glass use
    PUBLIC_HEALTH = 128  # receives public-health reports, raises outbreak alerts

    @property
    def role_id(self) -> bytes:
        """The bytes32 AccessControl role id (keccak256("<NAME>_ROLE"), as in contracts/libraries/Roles.sol)."""
        return keccak(text=f"{self.name}_ROLE")


def parse_roles(names: str | list[str]) -> Role:
    """"PROVIDER,PAYER" or ["PROVIDER", "PAYER"] -> Role flags; ValueError naming the unknown role."""
    items = [part.strip().upper() for part in (names.split(",") if isinstance(names, str) else names) if part.strip()]
    if not items:
        raise ValueError("at least one role is required")
    flags = Role(0)
    for item in items:
        try:
            flags |= Role[item]
        except KeyError:
            raise ValueError(f"unknown role {item!r}; choose from {', '.join(r.name for r in Role)}") from None
    return flags


def role_names(flags: int) -> list[str]:
    return [role.name for role in Role if flags & role]  # type: ignore[misc]
