"""Bounded caches for the read path: what never changes once on chain or in IPFS is fetched and checked once.

* Anchors: a record's `RecordAnchored` event is immutable, so the anchor is looked up (eth_getLogs over the whole
  chain) once per record. Only the anchor is cached, never whether the record is erased or readable: the access
  log transaction re-checks both on chain before any read is released.
* Sealed objects: content-addressed and immutable, so each version is fetched from IPFS and verified against its
  anchor (sha256, CID, header) once; the verified object is kept, bounded by count and bytes, least recently used
  first out. Payloads are still decrypted per request (only ciphertext is cached), and an erased record's object
  is evicted.
* Validated payloads: a version's plaintext is fixed by its ciphertext (authenticated encryption of a verified,
  content-addressed object), so it is FHIR-validated once per version. Later reads still decrypt, and reuse the
  validation only when the plaintext's sha256 is the one that was validated; the resource is parsed afresh per read.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from crypto.record_object import RecordObject
from ledger.records import Anchor

DEFAULT_MAX_ANCHORS = 65_536
DEFAULT_MAX_OBJECTS = 4_096
DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024


class ReadCache:
    """Thread-safe LRU caches of anchors (by record id) and verified sealed objects (by record id and CID)."""

    def __init__(self, max_anchors: int = DEFAULT_MAX_ANCHORS, max_objects: int = DEFAULT_MAX_OBJECTS, max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> None:
        if min(max_anchors, max_objects, max_object_bytes) < 0:
            raise ValueError("cache bounds must not be negative")
        self.max_anchors = max_anchors
        self.max_objects = max_objects
        self.max_object_bytes = max_object_bytes
        self._lock = threading.Lock()
        self._anchors: OrderedDict[bytes, Anchor] = OrderedDict()
        self._objects: OrderedDict[tuple[bytes, bytes], tuple[RecordObject, int]] = OrderedDict()
        self._object_bytes = 0
        # (record id, cid) -> (sha256 of the validated plaintext, the validated resource when it differs from the
        # plaintext parsed as JSON, else None); bounded by max_objects
        self._validated: OrderedDict[tuple[bytes, bytes], tuple[bytes, dict[str, Any] | None]] = OrderedDict()
        self.hits = {"anchor": 0, "object": 0, "validated": 0}
        self.misses = {"anchor": 0, "object": 0, "validated": 0}

    # ------------------------------------------------------------------ anchors
    def anchor(self, record_id: bytes, count_miss: bool = True) -> Anchor | None:
        """The cached anchor or None; `count_miss=False` for a look that falls back to `anchor` (one miss per read)."""
        with self._lock:
            anchor = self._anchors.get(record_id)
            if anchor is None:
                self.misses["anchor"] += count_miss
                return None
            self._anchors.move_to_end(record_id)
            self.hits["anchor"] += 1
            return anchor

    def put_anchor(self, anchor: Anchor) -> None:
        with self._lock:
            self._anchors[anchor.record_id] = anchor
            self._anchors.move_to_end(anchor.record_id)
            while len(self._anchors) > self.max_anchors:
                self._anchors.popitem(last=False)

    # ------------------------------------------------------------------ sealed objects
    def verified_object(self, anchor: Anchor, fetch: Callable[[], tuple[RecordObject, bytes]]) -> RecordObject:
        """The anchored object, verified: from the cache, or `fetch()` (fetch-and-verify) once and kept."""
        key = (anchor.record_id, anchor.cid)
        with self._lock:
            cached = self._objects.get(key)
            if cached is not None:
                self._objects.move_to_end(key)
                self.hits["object"] += 1
                return cached[0]
            self.misses["object"] += 1
        obj, data = fetch()  # outside the lock: IPFS may be slow; two concurrent misses both fetch, harmlessly
        size = len(data)
        if size <= self.max_object_bytes and self.max_objects > 0:
            with self._lock:
                if key not in self._objects:
                    self._objects[key] = (obj, size)
                    self._object_bytes += size
                while len(self._objects) > self.max_objects or self._object_bytes > self.max_object_bytes:
                    _, (_, dropped) = self._objects.popitem(last=False)
                    self._object_bytes -= dropped
        return obj

    def cached_object(self, anchor: Anchor) -> RecordObject | None:
        """The verified object if it is cached (no fetch): the read path's inline fast path asks first."""
        key = (anchor.record_id, anchor.cid)
        with self._lock:
            cached = self._objects.get(key)
            if cached is None:
                return None
            self._objects.move_to_end(key)
            self.hits["object"] += 1
            return cached[0]

    # ------------------------------------------------------------------ validated payloads
    def cached_resource(self, anchor: Anchor, payload: bytes) -> dict[str, Any] | None:
        """The resource in `payload` if this very plaintext was validated before, else None (nothing validated)."""
        key = (anchor.record_id, anchor.cid)
        digest = hashlib.sha256(payload).digest()
        with self._lock:
            known = self._validated.get(key)
            if known is None or known[0] != digest:
                return None
            self._validated.move_to_end(key)
            self.hits["validated"] += 1
        return orjson.loads(payload) if known[1] is None else copy.deepcopy(known[1])  # type: ignore[no-any-return]

    def validated_resource(self, anchor: Anchor, payload: bytes, validate: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
        """The resource in `payload` (this read's decrypted plaintext): `validate(payload)` the first time this
        version is read; afterwards, for the very same plaintext, parsed without validating again."""
        key = (anchor.record_id, anchor.cid)
        digest = hashlib.sha256(payload).digest()
        with self._lock:
            known = self._validated.get(key)
            if known is not None and known[0] == digest:
                self._validated.move_to_end(key)
                self.hits["validated"] += 1
            else:
                known = None
                self.misses["validated"] += 1
        if known is not None:
            return orjson.loads(payload) if known[1] is None else copy.deepcopy(known[1])  # type: ignore[no-any-return]
        resource = validate(payload)  # raises on an invalid payload: nothing is remembered
        try:
            same = orjson.loads(payload) == resource
        except orjson.JSONDecodeError:
            same = False
        if self.max_objects > 0:
            with self._lock:
                self._validated[key] = (digest, None if same else copy.deepcopy(resource))
                self._validated.move_to_end(key)
                while len(self._validated) > self.max_objects:
                    self._validated.popitem(last=False)
        return resource

    # ------------------------------------------------------------------ eviction
    def evict(self, record_id: bytes) -> None:
        """Forget a record (erased: its ciphertext must not linger here)."""
        with self._lock:
            self._anchors.pop(record_id, None)
            for key in [key for key in self._validated if key[0] == record_id]:
                del self._validated[key]
            for key in [key for key in self._objects if key[0] == record_id]:
                _, size = self._objects.pop(key)
                self._object_bytes -= size

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "anchors": len(self._anchors), "objects": len(self._objects), "object_bytes": self._object_bytes,
                "anchor_hits": self.hits["anchor"], "anchor_misses": self.misses["anchor"],
                "object_hits": self.hits["object"], "object_misses": self.misses["object"],
                "validated_hits": self.hits["validated"], "validated_misses": self.misses["validated"],
            }
