"""FHIR validation and the canonical byte form a record stores.

fhir.resources 8 ships FHIR R5 at its top level and R4B in ``fhir.resources.R4B`` (there is no plain
R4 package); R4B is R4 plus a few additions and reads every R4 resource we store, so it is what we
validate against.  The canonical form is the validated resource as JSON with sorted keys and no
whitespace, so the same resource always yields the same bytes (and the same record id).
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from api.records.errors import InvalidResourceError

FHIR_RELEASE = "R4B"
Json = dict[str, Any]


def validate(resource: Json | str | bytes | Resource, max_bytes: int) -> tuple[Resource, Json, bytes]:
    """Validate; return (model, canonical dict, canonical bytes) or raise InvalidResourceError."""
    if isinstance(resource, Resource):
        data: object = resource.model_dump(mode="json", exclude_none=True)
    elif isinstance(resource, (str, bytes)):
        if len(resource) > max_bytes:
            raise InvalidResourceError(f"FHIR resource is {len(resource)} bytes, the limit is {max_bytes}")
        try:
            data = json.loads(resource)
        except ValueError as exc:
            raise InvalidResourceError(f"FHIR resource is not valid JSON: {exc}") from None
    else:
        data = resource
    if not isinstance(data, dict):
        raise InvalidResourceError(f"a FHIR resource must be a JSON object, got {type(data).__name__}")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise InvalidResourceError("FHIR resource has no resourceType")
    try:
        model_class = get_fhir_model_class(resource_type)
    except ValueError:
        raise InvalidResourceError(f"unknown FHIR {FHIR_RELEASE} resource type {resource_type!r}") from None
    if not issubclass(model_class, Resource):
        raise InvalidResourceError(f"{resource_type} is a FHIR data type, not a resource")
    try:
        model = model_class.model_validate(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise InvalidResourceError(f"invalid FHIR {FHIR_RELEASE} {resource_type}: {exc}") from None
    canonical = model.model_dump(mode="json", exclude_none=True)
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(payload) > max_bytes:
        raise InvalidResourceError(f"FHIR resource is {len(payload)} bytes as canonical JSON, the limit is {max_bytes}")
    return model, canonical, payload


def parse_stored(payload: bytes) -> tuple[Resource, Json]:
    """Re-validate a decrypted payload (what a reader gets back)."""
    model, canonical, _ = validate(payload, max_bytes=len(payload) + 1)
    return model, canonical
