"""QBFT genesis `extraData`: RLP([32-byte vanity, [validators], vote, round, [commit seals]]).

Besu's QBFT codec writes "no vote" as an empty list and the round as an integer scalar (0 -> empty
string), unlike IBFT 2.0 which uses an empty string and a 4-byte round. The genesis block carries no
seals. The encoder reproduces the QBFT example in Besu's documentation byte for byte (see the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_utils import is_hex_address, to_canonical_address, to_checksum_address

VANITY_BYTES = 32


class ExtraDataError(ValueError):
    """The extraData is not a well-formed QBFT genesis extraData."""


@dataclass(frozen=True)
class QbftExtraData:
    vanity: bytes
    validators: tuple[str, ...]  # checksummed, in header order
    has_vote: bool
    round: int
    seal_count: int


def sorted_validators(addresses: Sequence[str]) -> list[str]:
    """Checksummed, deduplicated, ascending by address bytes (the order Besu keeps its validator set in)."""
    for address in addresses:
        if not isinstance(address, str) or not is_hex_address(address):
            raise ValueError(f"not a 20-byte hex address: {address!r}")
    unique = {to_canonical_address(a) for a in addresses}
    return [to_checksum_address(a) for a in sorted(unique)]


def encode_qbft_extra_data(validators: Sequence[str]) -> str:
    """0x-hex extraData for a QBFT genesis block with `validators` (sorted, no vote, round 0, no seals)."""
    ordered = sorted_validators(validators)
    if not ordered:
        raise ValueError("a QBFT network needs at least one validator")
    payload = [b"\x00" * VANITY_BYTES, [to_canonical_address(a) for a in ordered], [], b"", []]
    return "0x" + rlp.encode(payload).hex()


def decode_qbft_extra_data(extra_data: str) -> QbftExtraData:
    """Parse a QBFT extraData; ExtraDataError when it is not one."""
    if not isinstance(extra_data, str) or not extra_data.startswith("0x"):
        raise ExtraDataError("extraData must be a 0x-prefixed hex string")
    try:
        items = rlp.decode(bytes.fromhex(extra_data[2:]))
    except (ValueError, rlp.DecodingError) as exc:
        raise ExtraDataError(f"extraData is not valid RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise ExtraDataError("QBFT extraData is an RLP list of 5 items (vanity, validators, vote, round, seals)")
    vanity, validators, vote, round_bytes, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != VANITY_BYTES:
        raise ExtraDataError("vanity must be 32 bytes")
    if not isinstance(validators, list) or not all(isinstance(v, bytes) and len(v) == 20 for v in validators):
        raise ExtraDataError("validators must be a list of 20-byte addresses")
    if not isinstance(vote, list):
        raise ExtraDataError("vote must be an RLP list (empty when there is no vote)")
    if not isinstance(round_bytes, bytes) or round_bytes[:1] == b"\x00":
        raise ExtraDataError("round must be a canonical RLP integer")
    if not isinstance(seals, list):
        raise ExtraDataError("commit seals must be an RLP list")
    return QbftExtraData(
        vanity=vanity,
        validators=tuple(to_checksum_address(v) for v in validators),
        has_vote=bool(vote),
        round=int.from_bytes(round_bytes, "big"),
        seal_count=len(seals),
    )
