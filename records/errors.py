"""The record service's errors: each names what went wrong and what the caller can do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address

from ledger.vocabulary import Category, Purpose


class RecordError(Exception):
    """Base of every error the record service raises."""


@dataclass(frozen=True)
class FieldIssue:
    """One thing wrong with one element of a FHIR resource: callers can point at it and fix it."""

    field: str  # JSON path inside the resource, e.g. "status", "component[0].code"; "" for the resource as a whole
    message: str
    value: Any = None  # what was given (None when nothing was, or it is not a plain value)
    allowed: tuple[str, ...] | None = None  # the codes a required binding allows

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "value": self.value, "message": self.message}
        if self.allowed is not None:
            out["allowed"] = list(self.allowed)
        return out


class InvalidResourceError(RecordError, ValueError):
    """The FHIR resource is not valid FHIR R4 (R4B models, plus R4's required code bindings), or is too large.

    `issues` names each offending element (empty when the fault is not one element's, e.g. the size)."""

    def __init__(self, message: str, issues: Sequence[FieldIssue] = ()) -> None:
        super().__init__(message)
        self.issues: tuple[FieldIssue, ...] = tuple(issues)


class UnsupportedResourceError(RecordError, ValueError):
    """Valid FHIR, but no record category is defined for it."""


class PatientKeyMissingError(RecordError):
    """The patient has no HPKE key on the ConsentLedger, so could never read the record."""


class RecordNotFoundError(RecordError, LookupError):
    """No record with that id is anchored on chain."""


class RecordErasedError(RecordError):
    """The patient erased the record (crypto-shredded); it can no longer be read or shared."""


class AccessDeniedError(RecordError, PermissionError):
    """The reader holds no consent covering the record for that purpose (nothing was logged).

    A consent refusal carries its facts, so callers can explain it in words without parsing the (translated)
    message: `patient` and `grantee` (checksummed addresses), `category` and `purpose` (None when unknown). All four
    are None when the refusal is not about consent (e.g. the institution is no longer an active member)."""

    def __init__(
        self, message: str, *, patient: str | None = None, grantee: str | None = None,
        category: Category | None = None, purpose: Purpose | None = None,
    ) -> None:
        super().__init__(message)
        self.patient, self.grantee, self.category, self.purpose = patient, grantee, category, purpose

    @property
    def is_consent_refusal(self) -> bool:
        return self.patient is not None and self.grantee is not None

    @classmethod
    def consent_facts(cls, revert: Any) -> dict[str, Any]:
        """The keyword facts of a contract's `NoConsent(patient, grantee, category, purpose)` revert (a
        ledger.errors.ContractRevert); {} for any other revert."""
        if getattr(revert, "name", None) != "NoConsent":
            return {}
        args = getattr(revert, "args_by_name", {}) or {}
        return {
            "patient": _checksummed(args.get("patient")),
            "grantee": _checksummed(args.get("grantee")),
            "category": _member(Category, args.get("category")),
            "purpose": _member(Purpose, args.get("purpose")),
        }


def _checksummed(value: Any) -> str | None:
    """EIP-55 form of an address argument (the ABI decoder may give it lower case); None when it is none."""
    return to_checksum_address(value) if isinstance(value, str) and is_address(value) else None


def _member(kind: type[Category | Purpose], code: Any) -> Any:
    """`kind(code)`, or None when `code` is not one of its values (Purpose is a flag: only single purposes count)."""
    try:
        value = int(code)
    except (TypeError, ValueError):
        return None
    return kind(value) if value in {int(member) for member in kind} else None


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
