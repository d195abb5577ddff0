"""FHIR validation and the canonical byte form a record stores.

fhir.resources 8 ships FHIR R5 at its top level and R4B in ``fhir.resources.R4B`` (there is no plain
R4 package); R4B is R4 plus a few additions and reads every R4 resource we store, so it is what we
validate against.  The canonical form is the validated resource as JSON with sorted keys and no
whitespace, so the same resource always yields the same bytes (and the same record id).

fhir.resources checks structure only; R4's required code bindings (Observation.status ...) are checked by
fhir_bindings.py.  Every refusal carries `issues` (field path, value given, allowed codes) for the caller.
Stored payloads are re-read without the binding check: a record anchored before a code was refused stays readable.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from records.errors import FieldIssue, InvalidResourceError
from records.fhir_bindings import check_bindings
from i18n import _
from i18n.validation import validation_message

FHIR_RELEASE = "R4B"
Json = dict[str, Any]
SHOWN_ISSUES = 5  # issues spelled out in the message; `issues` has them all


def validate(
    resource: Json | str | bytes | Resource, max_bytes: int, *, bindings: bool = True
) -> tuple[Resource, Json, bytes]:
    """Validate (structure, then required code bindings unless `bindings` is False); return (model, canonical dict,
    canonical bytes) or raise InvalidResourceError naming each offending element."""
    if isinstance(resource, Resource):
        data: object = resource.model_dump(mode="json", exclude_none=True)
    elif isinstance(resource, (str, bytes)):
        if len(resource) > max_bytes:
            raise InvalidResourceError(_("FHIR resource is {size} bytes, the limit is {limit}").format(size=len(resource), limit=max_bytes))
        try:
            data = json.loads(resource)
        except ValueError as exc:
            raise InvalidResourceError(_("FHIR resource is not valid JSON: {reason}").format(reason=exc)) from None
    else:
        data = resource
    if not isinstance(data, dict):
        raise InvalidResourceError(_("a FHIR resource must be a JSON object, got {kind}").format(kind=type(data).__name__), [FieldIssue("", _("must be a JSON object"))])
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise InvalidResourceError(_("FHIR resource has no resourceType"), [FieldIssue("resourceType", _("required element is missing"), resource_type)])
    try:
        model_class = get_fhir_model_class(resource_type)
    except ValueError:
        message = _("unknown FHIR {release} resource type {kind}").format(release=FHIR_RELEASE, kind=repr(resource_type))
        raise InvalidResourceError(message, [FieldIssue("resourceType", message, resource_type)]) from None
    if not issubclass(model_class, Resource):
        message = _("{kind} is a FHIR data type, not a resource").format(kind=resource_type)
        raise InvalidResourceError(message, [FieldIssue("resourceType", message, resource_type)])
    try:
        model = model_class.model_validate(data)
    except ValidationError as exc:
        _refuse(resource_type, [_structure_issue(error) for error in exc.errors()])
    except (ValueError, TypeError) as exc:
        _refuse(resource_type, [FieldIssue("", str(exc))])
    if bindings:
        issues = check_bindings(model)
        if issues:
            _refuse(resource_type, issues)
    canonical = model.model_dump(mode="json", exclude_none=True)
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(payload) > max_bytes:
        raise InvalidResourceError(_("FHIR resource is {size} bytes as canonical JSON, the limit is {limit}").format(size=len(payload), limit=max_bytes))
    return model, canonical, payload


def _refuse(resource_type: str, issues: list[FieldIssue]) -> NoReturn:
    shown = "; ".join(f"{issue.field or resource_type}: {issue.message}" for issue in issues[:SHOWN_ISSUES])
    more = _(" (and {count} more)").format(count=len(issues) - SHOWN_ISSUES) if len(issues) > SHOWN_ISSUES else ""
    raise InvalidResourceError(_("invalid FHIR {release} {kind}: {issues}{more}").format(release=FHIR_RELEASE, kind=resource_type, issues=shown, more=more), issues) from None


def _structure_issue(error: Any) -> FieldIssue:
    """One pydantic error as a FieldIssue: JSON path, plain message, the value when it is a plain one."""
    field = json_path(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "missing" or kind.endswith(".missing"):  # fhir.resources' own: model_field_validation.missing
        return FieldIssue(field, _("required element is missing"))
    value = error.get("input")
    if kind == "extra_forbidden":
        return FieldIssue(field, _("unknown element: not part of FHIR {release} here (check the spelling)").format(release=FHIR_RELEASE), value if _plain(value) else None)
    message = validation_message(error)  # pydantic's words in the caller's language (a validator's own text as it is)
    return FieldIssue(field, message, value if _plain(value) else None)


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """("component", 0, "code") -> "component[0].code"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _plain(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def parse_stored(payload: bytes) -> tuple[Resource, Json]:
    """Re-validate a decrypted payload (what a reader gets back)."""
    model, canonical, _payload = validate(payload, max_bytes=len(payload) + 1, bindings=False)
    return model, canonical
