"""FHIR R4 required code bindings, checked on a validated model.

fhir.resources checks structure and primitive formats but accepts any string as a `code` ("done" as an Observation
status), and a record is anchored forever, so fhir.validate runs this check before anything is stored.  The walk is
by FHIR type, not by path, so a binding of a data type (Quantity.comparator, Identifier.use ...) or backbone element
(Composition.section.mode) is checked wherever it occurs: in Bundle entries, contained resources and extensions too.
The value sets are data (fhir_value_sets.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from records.errors import FieldIssue
from i18n import _
from records.fhir_value_sets import BINDINGS, VALUE_SET_BASE, VALUE_SETS


@dataclass(frozen=True)
class ValueSet:
    id: str
    url: str
    codes: tuple[str, ...]  # specification order, for messages
    system: str | None = None  # for CodeableConcept elements: the code system a coding must come from

    def __contains__(self, code: object) -> bool:
        return code in self.codes  # at most a few dozen codes: a tuple scan is enough


def _load() -> tuple[dict[str, ValueSet], dict[str, dict[str, ValueSet]]]:
    value_sets = {
        key: ValueSet(id=key, url=str(row.get("url", VALUE_SET_BASE + key)), codes=tuple(row["codes"]), system=row.get("system"))
        for key, row in VALUE_SETS.items()
    }
    bindings = {kind: {element: value_sets[key] for element, key in elements.items()} for kind, elements in BINDINGS.items()}
    return value_sets, bindings


_VALUE_SETS, _BINDINGS = _load()


def value_set(key: str) -> ValueSet:
    return _VALUE_SETS[key]


def bindings_of(fhir_type: str) -> dict[str, ValueSet]:
    """Element name -> required value set, for one FHIR type (resource, backbone element or data type)."""
    return dict(_BINDINGS.get(fhir_type, {}))


def check_bindings(model: BaseModel) -> list[FieldIssue]:
    """Every code (or CodeableConcept) under `model` that its required binding does not allow; [] if none."""
    return list(_walk(model, ""))


def _walk(model: BaseModel, path: str) -> Iterator[FieldIssue]:
    type_name = getattr(model, "get_resource_type", lambda: type(model).__name__)()
    bound = _BINDINGS.get(type_name, {})
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        element = info.alias or name
        where = f"{path}.{element}" if path else element
        if element in bound:
            yield from _check(value, where, bound[element])
        yield from _descend(value, where)


def _descend(value: Any, path: str) -> Iterator[FieldIssue]:
    if isinstance(value, BaseModel):
        yield from _walk(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _descend(item, f"{path}[{index}]")


def _check(value: Any, path: str, vs: ValueSet) -> Iterator[FieldIssue]:
    if isinstance(value, list):  # a repeating code element (AllergyIntolerance.category, Timing.repeat.when ...)
        for index, item in enumerate(value):
            if item is not None:
                yield from _check(item, f"{path}[{index}]", vs)
    elif isinstance(value, str):
        if value not in vs:
            yield FieldIssue(path, _("{code} is not a code of the required value set {value_set}; allowed: {allowed}").format(code=repr(value), value_set=vs.url, allowed=", ".join(vs.codes)), value, vs.codes)
    elif isinstance(value, BaseModel) and hasattr(value, "coding"):
        yield from _check_concept(value, path, vs)


def _check_concept(concept: Any, path: str, vs: ValueSet) -> Iterator[FieldIssue]:
    """A required binding on a CodeableConcept: a coding from the value set's system with an allowed code must be
    present (text alone does not do), and no coding may claim that system with another code."""
    codings = list(concept.coding or [])
    ours = [(index, coding) for index, coding in enumerate(codings) if coding.system == vs.system]
    for index, coding in ours:
        if coding.code not in vs:
            yield FieldIssue(
                f"{path}.coding[{index}].code",
                _("{code} is not a code of the required value set {value_set}; allowed: {allowed}").format(code=repr(coding.code), value_set=vs.url, allowed=", ".join(vs.codes)),
                coding.code, vs.codes,
            )
    if not ours:
        given = [f"{coding.system}|{coding.code}" if coding.system else str(coding.code) for coding in codings] or concept.text
        yield FieldIssue(
            path,
            _("needs a coding with system {system} (required value set {value_set}); allowed codes: {allowed}").format(system=vs.system, value_set=vs.url, allowed=", ".join(vs.codes)),
            given, vs.codes,
        )
