"""Required code bindings of the resources issue 17 adds (Procedure, Patient), until they join fhir_value_sets.py.

Same data shape as records/fhir_value_sets.py (VALUE_SETS, BINDINGS) and the same walk as records/fhir_bindings.py:
fhir.validate runs both. Move these rows into fhir_value_sets.py and delete this module when that file is free.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from records.errors import FieldIssue
from records.fhir_bindings import ValueSet, value_set
from records.fhir_value_sets import VALUE_SET_BASE

VALUE_SETS: dict[str, dict[str, Any]] = {
    "administrative-gender": {"codes": ["male", "female", "other", "unknown"]},
    "link-type": {"codes": ["replaced-by", "replaces", "refer", "seealso"]},
}

BINDINGS: dict[str, dict[str, str]] = {
    "Procedure": {"status": "event-status"},
    "Patient": {"gender": "administrative-gender"},
    "PatientContact": {"gender": "administrative-gender"},
    "PatientLink": {"type": "link-type"},
}


def _value_set(key: str) -> ValueSet:
    if key in VALUE_SETS:
        row = VALUE_SETS[key]
        return ValueSet(id=key, url=str(row.get("url", VALUE_SET_BASE + key)), codes=tuple(row["codes"]), system=row.get("system"))
    return value_set(key)


_BOUND = {kind: {element: _value_set(key) for element, key in elements.items()} for kind, elements in BINDINGS.items()}


def check_more_bindings(model: BaseModel) -> list[FieldIssue]:
    """Codes under `model` (Bundle entries included) that these required bindings do not allow; [] if none."""
    return list(_walk(model, ""))


def _walk(model: BaseModel, path: str) -> Iterator[FieldIssue]:
    type_name = getattr(model, "get_resource_type", lambda: type(model).__name__)()
    bound = _BOUND.get(type_name, {})
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        element = info.alias or name
        where = f"{path}.{element}" if path else element
        if element in bound and isinstance(value, str) and value not in bound[element]:
            vs = bound[element]
            yield FieldIssue(where, f"{value!r} is not a code of the required value set {vs.url}; allowed: {', '.join(vs.codes)}", value, vs.codes)
        yield from _descend(value, where)


def _descend(value: Any, path: str) -> Iterator[FieldIssue]:
    if isinstance(value, BaseModel):
        yield from _walk(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _descend(item, f"{path}[{index}]")
