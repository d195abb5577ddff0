"""Small synchronous client for the Kubo RPC subset healthsilk uses.

Every add passes explicit import parameters (CIDv1, raw leaves, 256 KiB fixed chunks, sha2-256,
balanced layout, 174 links per node), so the CID of the same bytes never depends on the node's
defaults or version.  Reads ask for ``offline=true`` so that Kubo answers "not found" at once
instead of searching the network.

Every request carries ``Authorization: Bearer <secret>`` (Kubo's ``API.Authorizations``).  The
secret is the one passed in, else the one of a local network this process started or attached to
(``remember_api_secret``), else ``HEALTHSILK_IPFS_API_SECRET`` or the file named by
``HEALTHSILK_IPFS_API_SECRET_FILE``, else the default local network's secret file when ``api_url``
is that network's RPC.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from multiformats import CID, multihash

from network.kubo import read_api_secret
from network.settings import NetworkSettings

CHUNK_SIZE = 262144  # Kubo `add --cid-version=1` chunk size; one chunk => CID is a raw leaf
MAX_LINKS = 174  # links per dag-pb node of a balanced UnixFS file
ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "trickle": "false",  # balanced layout
    "max-file-links": str(MAX_LINKS),
}
SECRET_ENV = "HEALTHSILK_IPFS_API_SECRET"
SECRET_FILE_ENV = "HEALTHSILK_IPFS_API_SECRET_FILE"
_known_secrets: dict[str, str] = {}


class IpfsError(Exception):
    """An IPFS request failed; the message says which call and why."""


class IpfsNotFound(IpfsError):
    """The CID (or the pin asked about) is not on the node."""


class IpfsUnavailable(IpfsError):
    """The node cannot be reached."""


class IpfsPayloadTooLarge(IpfsError):
    """The node refused an add as larger than its limit; nothing was stored."""


class IpfsUnauthorized(IpfsError):
    """The node refused the request's RPC secret (missing or wrong)."""


def _url_key(api_url: str) -> str:
    return api_url.rstrip("/").removesuffix("/api/v0")


def remember_api_secret(api_url: str, secret: str) -> None:
    """Use `secret` for every client of `api_url` in this process (the launcher calls it for its Kubo)."""
    _known_secrets[_url_key(api_url)] = secret


def api_secret_for(api_url: str) -> str | None:
    """The RPC secret to send to `api_url` when the caller gives none (order in the module docstring)."""
    key = _url_key(api_url)
    if key in _known_secrets:
        return _known_secrets[key]
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].strip()
    if os.environ.get(SECRET_FILE_ENV):
        return read_api_secret(Path(os.environ[SECRET_FILE_ENV]))
    local = NetworkSettings.load()
    return local.ipfs_api_secret if _url_key(local.ipfs_url) == key else None


def raw_cid(data: bytes) -> str:
    """CIDv1 (raw codec, sha2-256, base32) of a payload that fits one chunk."""
    if len(data) > CHUNK_SIZE:
        raise ValueError(f"raw_cid covers single-chunk payloads (<= {CHUNK_SIZE} bytes), got {len(data)}")
    digest = multihash.wrap(hashlib.sha256(data).digest(), "sha2-256")
    return str(CID("base32", 1, "raw", digest))


def _raw_digest_mismatch(cid: str, data: bytes) -> bool:
    """True if ``cid`` names a raw sha2-256 block whose digest is not that of ``data``."""
    try:
        parsed = CID.decode(cid)
    except Exception:  # malformed CIDs are the node's to reject, with its own message
        return False
    if parsed.codec.name != "raw" or parsed.hashfun.name != "sha2-256":
        return False
    return parsed.raw_digest != hashlib.sha256(data).digest()


class IpfsClient:
    """Client for Kubo's RPC API, e.g. ``IpfsClient("http://127.0.0.1:5001", secret=...)``."""

    def __init__(self, api_url: str, timeout: float = 30.0, *, secret: str | None = None) -> None:
        self._base = _url_key(api_url) + "/api/v0/"
        secret = secret if secret is not None else api_secret_for(api_url)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IpfsClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _post(self, command: str, params: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.post(self._base + command, params=params, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise IpfsUnavailable(f"IPFS node at {self._base} is unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            raise IpfsError(f"IPFS {command} failed: {exc}") from exc
        if response.status_code == 200:
            return response
        try:
            message = str(response.json().get("Message", response.text))
        except (ValueError, AttributeError):
            message = response.text.strip() or response.reason_phrase
        text = f"IPFS {command} failed (HTTP {response.status_code}): {message}"
        if response.status_code in (401, 403):
            raise IpfsUnauthorized(f"{text} (the node's RPC needs its secret: {SECRET_ENV} or {SECRET_FILE_ENV})")
        if response.status_code == 413:
            raise IpfsPayloadTooLarge(text)
        lowered = message.lower()
        if "not found" in lowered or "could not find" in lowered or "not pinned" in lowered:
            raise IpfsNotFound(text)
        raise IpfsError(text)

    def add(self, data: bytes, *, pin: bool = True, only_hash: bool = False) -> str:
        """Store ``data`` (or, with ``only_hash``, just compute its CID); returns the CID (checked locally for single-chunk payloads)."""
        params = {**ADD_PARAMS, "pin": "true" if pin and not only_hash else "false", "only-hash": "true" if only_hash else "false"}
        response = self._post("add", params, files={"file": ("payload", data, "application/octet-stream")})
        events = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        for event in events:
            if event.get("Type") == "error":
                raise IpfsError(f"IPFS add failed: {event.get('Message')}")
        hashes = [e["Hash"] for e in events if "Hash" in e]
        if not hashes:
            raise IpfsError(f"IPFS add returned no CID: {response.text[:200]!r}")
        cid = str(hashes[-1])
        if len(data) <= CHUNK_SIZE and cid != raw_cid(data):
            raise IpfsError(f"IPFS add returned CID {cid}, expected {raw_cid(data)}: node ignored the import parameters")
        return cid

    def cat(self, cid: str) -> bytes:
        """The bytes stored under ``cid``; a raw sha2-256 CID is re-verified against them."""
        response = self._post("cat", {"arg": cid, "offline": "true"})
        data = response.content
        declared = response.headers.get("X-Content-Length")
        if declared is not None and declared.isdigit() and int(declared) != len(data):
            raise IpfsError(f"IPFS cat of {cid} was cut short: got {len(data)} of {declared} bytes")
        if _raw_digest_mismatch(cid, data):
            raise IpfsError(f"IPFS cat of {cid} returned bytes that do not match the CID")
        return data

    def pin_add(self, cid: str) -> None:
        self._post("pin/add", {"arg": cid, "offline": "true"})

    def pin_rm(self, cid: str) -> None:
        """Unpin; raises IpfsNotFound if ``cid`` is not pinned."""
        self._post("pin/rm", {"arg": cid})

    def is_pinned(self, cid: str) -> bool:
        try:
            self._post("pin/ls", {"arg": cid, "type": "recursive", "offline": "true"})
        except IpfsNotFound:
            return False
        return True

    def pins(self) -> set[str]:
        """CIDs pinned recursively."""
        return set(self._post("pin/ls", {"type": "recursive"}).json().get("Keys", {}))

    def block_size(self, cid: str) -> int:
        return int(self._post("block/stat", {"arg": cid, "offline": "true"}).json()["Size"])

    def gc(self) -> list[str]:
        """Run the node's garbage collector; returns the CIDs of the blocks it removed."""
        response = self._post("repo/gc")
        removed: list[str] = []
        for line in response.text.splitlines():
            if line.strip():
                event = json.loads(line)
                if event.get("Error"):
                    raise IpfsError(f"IPFS repo/gc failed: {event['Error']}")
                removed.append(str(event["Key"]["/"]))
        return removed

    def node_id(self) -> dict[str, Any]:
        return dict(self._post("id").json())

    def version(self) -> str:
        return str(self._post("version").json()["Version"])
