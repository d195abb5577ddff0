"""CIDs of stored objects: text <-> on-chain binary form, and recomputing a payload's CID.

The node imports with Kubo's `add --cid-version=1` profile (raw leaves, 256 KiB fixed chunks, balanced
layout, 174 links per node).  One chunk => a raw CID (computed by ``raw_cid``).  Up to 174 chunks =>
one dag-pb root linking the raw leaves, which this module encodes itself (verified against the node's
``only-hash`` add in the tests), so reads need no second upload.  Larger payloads ask the node
(``add?only-hash=true``, nothing stored).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from multiformats import CID

from network.ipfs_client import CHUNK_SIZE, IpfsClient, raw_cid

MAX_LINKS = 174
_UNIXFS_FILE = 2
# Binary CIDv1 prefixes: version 1, codec (raw 0x55 / dag-pb 0x70), sha2-256 (0x12), 32-byte digest.
_RAW_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
_DAG_PB_PREFIX = bytes([0x01, 0x70, 0x12, 0x20])
_FAST_PREFIXES = (_RAW_PREFIX, _DAG_PB_PREFIX)
_FAST_BINARY_LENGTH = 36  # prefix (4) + sha2-256 digest (32)
_FAST_TEXT_LENGTH = 59  # "b" + 58 base32 characters of 36 bytes, unpadded


# Fast paths first: the CIDv1 sha2-256 forms our node makes (raw leaves, or a dag-pb root) in base32 are converted
# here directly, because multiformats type-checks every argument at run time (measured ~15% of a put's CPU). Any
# other CID (CIDv0, other codecs, hashes or bases) goes to multiformats, which also gives the errors for bad input.
def cid_to_bytes(cid: str) -> bytes:
    """The binary CID of its text form."""
    if isinstance(cid, str) and len(cid) == _FAST_TEXT_LENGTH and cid[0] == "b":
        body = cid[1:]
        if body.islower() and body.isalnum():
            try:
                raw = base64.b32decode(body.upper() + "======")
            except (binascii.Error, ValueError):
                raw = b""
            # the round trip refuses non-canonical texts (stray bits in the last character) as multiformats would
            if len(raw) == _FAST_BINARY_LENGTH and raw[:4] in _FAST_PREFIXES and _base32(raw) == cid:
                return raw
    return bytes(CID.decode(cid))


def cid_to_text(cid: bytes) -> str:
    """The text form of a binary CID: base32 for a CIDv1, as Kubo prints it (a CIDv0 keeps its base58 "Qm..." form)."""
    raw = bytes(cid)
    if len(raw) == _FAST_BINARY_LENGTH and raw[:4] in _FAST_PREFIXES:
        return _base32(raw)
    return str(CID.decode(raw).set(base="base32"))


def local_cid(data: bytes) -> str | None:
    """The CID the node gives ``data``, or None when the layout is deeper than one root node."""
    if len(data) <= CHUNK_SIZE:
        return raw_cid(data)
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    if len(chunks) > MAX_LINKS:
        return None
    links = b""
    for chunk in chunks:
        leaf = _RAW_PREFIX + hashlib.sha256(chunk).digest()
        # PBLink: Hash (1), Name (2, empty), Tsize (3)
        link = _field_bytes(1, leaf) + _field_bytes(2, b"") + _field_varint(3, len(chunk))
        links += _field_bytes(2, link)
    # UnixFS Data: Type=File (1), filesize (3), blocksizes (4, repeated, unpacked)
    unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, len(data))
    unixfs += b"".join(_field_varint(4, len(chunk)) for chunk in chunks)
    node = links + _field_bytes(1, unixfs)  # dag-pb canonical order: Links before Data
    return _base32(_DAG_PB_PREFIX + hashlib.sha256(node).digest())


def node_cid(api_url: str, data: bytes, timeout: float = 60.0) -> str:
    """Ask the node for the CID of ``data`` without storing it (``add?only-hash=true``)."""
    with IpfsClient(api_url, timeout=timeout) as client:
        return client.add(data, pin=False, only_hash=True)


def payload_cid(api_url: str, data: bytes) -> str:
    return local_cid(data) or node_cid(api_url, data)


def _base32(binary_cid: bytes) -> str:
    """Multibase base32 (lower case, no padding, prefix "b"), as Kubo prints CIDv1."""
    return "b" + base64.b32encode(binary_cid).decode("ascii").lower().rstrip("=")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(value)) + value


# multiformats registers its encodings lazily, on first use, and two threads doing that at once fail with
# "Raw encoding with name 'base32' already exists" (seen with concurrent first puts): register them now, at import.
cid_to_bytes(cid_to_text(_RAW_PREFIX + bytes(32)))
