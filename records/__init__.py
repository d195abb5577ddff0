"""The record service: put / get / share / erase of encrypted FHIR records (IPFS + on-chain anchors).

| module | job |
| --- | --- |
| `settings.py` | `RecordSettings` from the environment (`HEALTHSILK_RECORDS_DIR`, `HEALTHSILK_IPFS_API`, access-log and put batching, read cache) |
| `errors.py` | the error hierarchy (`RecordError` ...) |
| `fhir.py` | FHIR R4B validation, canonical bytes |
| `categories.py` | FHIR resource -> record category (lab Observations without a category by their LOINC code) |
| `loinc_lab.py` | data: LOINC codes of common laboratory tests |
| `record_id.py` | deterministic, author-keyed record ids |
| `cid.py` | CID text/binary, local UnixFS CID, node only-hash |
| `storage.py` | `ObjectStore`: add + pin, fetch-and-verify against the anchor |
| `policy.py` | `AccessPolicy` protocol, `ChainAccessPolicy`, `IndexAccessPolicy` (+ its as-of-last-poll view for puts) |
| `recipients.py` | who gets a key wrap at put time; `MemberDirectory` (the registry's member list, cached a few seconds) |
| `spool.py` | the put spool (crash-safe retries) |
| `keystore.py` | an institution's SQLite store of shared key wraps |
| `clients.py` | `RecordClients`: chain + IPFS handles, the batch index |
| `batch_index.py` | `BatchIndex`: batch-anchored records by id, from `RecordBatchAnchored` events and their IPFS manifests |
| `batch_journal.py` | `BatchJournal`: batches on their way to the chain, on disk (an interrupted put never anchors twice) |
| `anchor_batcher.py` | `AnchorBatcher`: group commit of puts' anchors (`anchorRecord` alone, `anchorBatch` together) |
| `anchoring.py` | `Anchoring`: is a record already anchored (alone, batched, journalled)? anchor it through the batcher |
| `reading.py` | locate (records anchored alone or in a batch) / decrypt steps shared by every read |
| `sharing.py` | wallet-side `share`, institution-side bundle validation |
| `erasure.py` | `sign_erasure`, `erase` |
| `patient.py` | `read_own` (wallet) |
| `read_cache.py` | `ReadCache`: bounded LRU of anchors and of verified sealed objects (ciphertext, per version) |
| `access_batcher.py` | `AccessBatcher`: group commit of access-log entries into `logAccessBatch` transactions |
| `reader.py` | `RecordReader`: an institution's read path (prepare, log in a batch, release) |
| `care_reads.py` | `CareReads`: reads a care flow authorises (case, break-glass, prescription), logged on the flow contract |
| `key_release.py` | the author side and the reader side of key release for care reads (signed request, re-wrap) |
| `service.py` | `RecordService` (an institution's put / get / get_many / aget / ingest / relay_erasure / purge) |
"""

from records.clients import RecordClients
from records.erasure import ErasureRequest, erase, sign_erasure
from records.errors import (
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
from records.models import KeyShare, KeyShareBundle, PutResult, RecordRead
from records.patient import read_own
from records.policy import AccessPolicy, ChainAccessPolicy
from records.service import PutStage, RecordService
from records.settings import RecordSettings
from records.sharing import share

__all__ = [
    "AccessDeniedError", "AccessPolicy", "AnchorRefusedError", "ChainAccessPolicy", "ErasureRequest", "InvalidResourceError",
    "KeyShare", "KeyShareBundle", "NoKeyError", "PatientKeyMissingError", "PayloadMissingError", "PayloadTamperedError",
    "PutIncompleteError", "PutResult", "PutStage", "RecordClients", "RecordErasedError", "RecordError", "RecordNotFoundError",
    "RecordRead", "RecordService", "RecordSettings", "ShareRefusedError", "UnsupportedResourceError", "erase", "read_own",
    "share", "sign_erasure",
]
