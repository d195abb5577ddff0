"""Value types at the API's edges: 0x addresses (EIP-55 out), record ids, hex byte strings."""

from __future__ import annotations

from typing import Annotated

from eth_utils import is_address, to_checksum_address
from pydantic import AfterValidator, Field

from api.problems import invalid
from i18n import _

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
RECORD_ID_PATTERN = r"^0x[0-9a-fA-F]{64}$"
HEX_PATTERN = r"^0x([0-9a-fA-F]{2})*$"
ZERO_ADDRESS = "0x" + "00" * 20
# What the OpenAPI document says of every address the server checks with `checksum` and `_nonzero`: mixed-case
# input must carry a valid EIP-55 checksum (format "eip55-address"; all-lowercase and all-uppercase are accepted),
# and the zero address is refused. JSON Schema has no keccak, so the checksum is a named format.
ADDRESS_RULES = {
    "format": "eip55-address",
    "not": {"const": ZERO_ADDRESS},
    "description": "0x + 40 hex digits; mixed case only with a valid EIP-55 checksum; never the zero address",
}


def checksum(value: str) -> str:
    """EIP-55 form; refuses mixed-case input whose checksum is wrong (a typo, not a style)."""
    if not is_address(value):
        raise ValueError(_("{value} is not a valid address (0x + 40 hex digits)").format(value=repr(value)))
    checksummed = to_checksum_address(value)
    body = value[2:]
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise ValueError(_("{value} has a wrong EIP-55 checksum (a typo?); send it all lowercase or correctly checksummed").format(value=value))
    return checksummed


def _nonzero(value: str) -> str:
    if int(value, 16) == 0:
        raise ValueError(_("the zero address is not allowed"))
    return value


Address = Annotated[str, Field(pattern=ADDRESS_PATTERN, examples=["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"], json_schema_extra=ADDRESS_RULES), AfterValidator(checksum), AfterValidator(_nonzero)]
RecordIdHex = Annotated[str, Field(pattern=RECORD_ID_PATTERN, description="0x + 64 hex digits"), AfterValidator(str.lower)]
HexBytes = Annotated[str, Field(pattern=HEX_PATTERN, description="0x-prefixed hex bytes")]


def record_id_bytes(value: str) -> bytes:
    text = value.lower()
    if len(text) != 66 or not text.startswith("0x"):
        raise invalid(_("record id {value} must be 0x + 64 hex digits").format(value=repr(value)))
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise invalid(_("record id {value} must be 0x + 64 hex digits").format(value=repr(value))) from None


def path_address(value: str, what: str = "address") -> str:
    try:
        return _nonzero(checksum(value))
    except ValueError as exc:
        raise invalid(f"{what}: {exc}") from None


def hex32(value: bytes) -> str:
    return "0x" + value.hex()
