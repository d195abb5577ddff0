"""The record service's errors: each names what went wrong and what the caller can do."""

from __future__ import annotations


class RecordError(Exception):
    """Base of every error the record service raises."""


class InvalidResourceError(RecordError, ValueError):
    """The FHIR resource is not valid FHIR R4 (R4B models), or is too large."""


class UnsupportedResourceError(RecordError, ValueError):
    """Valid FHIR, but no record category is defined for it."""


class PatientKeyMissingError(RecordError):
    """The patient has no HPKE key on the ConsentLedger, so could never read the record."""


class RecordNotFoundError(RecordError, LookupError):
    """No record with that id is anchored on chain."""


class RecordErasedError(RecordError):
    """The patient erased the record (crypto-shredded); it can no longer be read or shared."""


class AccessDeniedError(RecordError, PermissionError):
    """The reader holds no consent covering the record for that purpose (nothing was logged)."""


class NoKeyError(RecordError):
    """The reader is permitted but holds no key wrap yet: the patient must share the key."""


class PayloadMissingError(RecordError):
    """The anchored object is not available from the IPFS node."""


class PayloadTamperedError(RecordError):
    """The bytes served for the anchored CID do not match the anchor (sha256 / CID / header)."""


class AnchorRefusedError(RecordError):
    """The chain refused the anchor; the object was unpinned and nothing is left behind."""


class PutIncompleteError(RecordError):
    """Anchoring did not complete (node unreachable, timeout); retry put(): the spooled object is reused."""


class ShareRefusedError(RecordError):
    """A key share was refused (record out of the consent's scope, erased, or not the patient's)."""
