"""Pydantic models at the service's edges (what the HTTP API will expose)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_serializer, field_validator

from ledger.records import Anchor
from i18n import _


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _bytes(value: object) -> object:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise ValueError(_("not valid 0x-prefixed hex")) from None
    return value


class PutResult(BaseModel):
    record_id: bytes
    cid: str
    version: int
    category: str
    created: bool = Field(description="False when the chain already had this record (an idempotent retry)")
    anchor: Anchor
    recipients: list[str] = Field(default_factory=list, description="addresses holding a key wrap in the object")
    skipped_recipients: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage of this call")

    @field_serializer("record_id")
    def _ser_id(self, value: bytes) -> str:
        return _hex(value)


class RecordRead(BaseModel):
    record_id: bytes
    version: int
    category: str
    media_type: str
    resource: dict[str, Any] = Field(description="the validated FHIR resource (canonical JSON)")
    anchor: Anchor
    access_logged: bool
    timings: dict[str, float] = Field(default_factory=dict)

    @field_serializer("record_id")
    def _ser_id(self, value: bytes) -> str:
        return _hex(value)


class KeyShare(BaseModel):
    record_id: bytes = Field(min_length=32, max_length=32)
    version: int = Field(ge=0, lt=2**32)
    wrap: bytes = Field(min_length=2, max_length=4096)

    @field_validator("record_id", "wrap", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _bytes(value)

    @field_serializer("record_id", "wrap")
    def _ser(self, value: bytes) -> str:
        return _hex(value)


class KeyShareBundle(BaseModel):
    """What a patient's wallet hands a new grantee: the record keys re-wrapped to the grantee's HPKE key."""

    patient: str
    grantee: str
    shares: list[KeyShare] = Field(min_length=1)
