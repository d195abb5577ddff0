"""The record service: put / get / share / erase of encrypted FHIR records (IPFS + on-chain anchors).

| module | job |
| --- | --- |
| `settings.py` | `RecordSettings` from the environment (`HEALTHSILK_RECORDS_DIR`, `HEALTHSILK_IPFS_API`) |
| `errors.py` | the error hierarchy (`RecordError` ...) |
| `fhir.py` | FHIR R4B validation, canonical bytes |
| `categories.py` | FHIR resource -> record category |
| `record_id.py` | deterministic, author-keyed record ids |
| `cid.py` | CID text/binary, local UnixFS CID, node only-hash |
| `storage.py` | `ObjectStore`: add + pin, fetch-and-verify against the anchor |
| `policy.py` | `AccessPolicy` protocol, `ChainAccessPolicy` |
| `recipients.py` | who gets a key wrap at put time |
| `spool.py` | the put spool (crash-safe retries) |
| `keystore.py` | an institution's SQLite store of shared key wraps |
| `clients.py` | `RecordClients`: chain + IPFS handles |
| `reading.py` | locate / decrypt steps shared by every read |
| `sharing.py` | wallet-side `share`, institution-side bundle validation |
| `erasure.py` | `sign_erasure`, `erase` |
| `patient.py` | `read_own` (wallet) |
| `service.py` | `RecordService` (an institution's put / get / ingest / relay_erasure / purge) |
"""

from api.records.clients import RecordClients
from api.records.erasure import ErasureRequest, erase, sign_erasure
from api.records.errors import (
    AccessDeniedError,
    AnchorRefusedError,
    InvalidResourceError,
    NoKeyError,
    PatientKeyMissingError,
    PayloadMissingError,
    PayloadTamperedError,
    PutIncompleteError,
    RecordErasedError,
    RecordError,
    RecordNotFoundError,
    ShareRefusedError,
    UnsupportedResourceError,
)
from api.records.models import KeyShare, KeyShareBundle, PutResult, RecordRead
from api.records.patient import read_own
from api.records.policy import AccessPolicy, ChainAccessPolicy
from api.records.service import PutStage, RecordService
from api.records.settings import RecordSettings
from api.records.sharing import share

__all__ = [
    "AccessDeniedError", "AccessPolicy", "AnchorRefusedError", "ChainAccessPolicy", "ErasureRequest", "InvalidResourceError",
    "KeyShare", "KeyShareBundle", "NoKeyError", "PatientKeyMissingError", "PayloadMissingError", "PayloadTamperedError",
    "PutIncompleteError", "PutResult", "PutStage", "RecordClients", "RecordErasedError", "RecordError", "RecordNotFoundError",
    "RecordRead", "RecordService", "RecordSettings", "ShareRefusedError", "UnsupportedResourceError", "erase", "read_own",
    "share", "sign_erasure",
]
