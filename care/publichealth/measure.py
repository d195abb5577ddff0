"""The weekly report as a FHIR MeasureReport (summary), and back to a table of published values.

One group per (disease, region): the grand total as the group's population, one stratifier "age-band x sex" with
a stratum per item (cells and margins; "*" is "all"). A suppressed item has no count and the suppressed extension.
The report names the institution (its member address), the ISO week and k; no patient, record id, date finer than
the week, or free text.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from care.publichealth.diseases import ICD10, by_code
from care.publichealth.suppression import ALL, Key, Suppressed
from ledger.publichealth import week_start

MEASURE = "urn:healthsilk:measure:notifiable-weekly"
EXT = "urn:healthsilk:publichealth:"
STRAT = "urn:healthsilk:publichealth:stratifier"
AGE = "urn:healthsilk:publichealth:age-band"
SEX = "http://hl7.org/fhir/administrative-gender"
POPULATION = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": "initial-population"}]}


def measure_report(member: str, week: int, published: Suppressed) -> dict[str, Any]:
    start = dt.datetime.fromtimestamp(week_start(week), dt.UTC).date()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for (disease, region, age, sex), value in sorted(published.values.items()):
        group = groups.setdefault((disease, region), _group(disease, region))
        if age == ALL and sex == ALL:
            group["population"] = [_population(value)]
            continue
        group["stratifier"][0]["stratum"].append({
            "component": [
                {"code": {"coding": [{"system": STRAT, "code": "age-band"}]}, "value": {"coding": [{"system": AGE, "code": age}]}},
                {"code": {"coding": [{"system": STRAT, "code": "sex"}]}, "value": {"coding": [{"system": SEX, "code": sex}]}},
            ],
            "population": [_population(value)],
        })
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": MEASURE,
        "reporter": {"identifier": {"system": "urn:healthsilk:member", "value": member}},
        "period": {"start": start.isoformat(), "end": (start + dt.timedelta(days=6)).isoformat()},
        "extension": [{"url": EXT + "week", "valueInteger": week}, {"url": EXT + "k", "valueInteger": published.k}],
        "group": [groups[key] for key in sorted(groups)],
    }


def encode(report: dict[str, Any]) -> bytes:
    """Canonical bytes (sorted keys, no spaces): the same report always hashes the same."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def parse(report: dict[str, Any]) -> tuple[str, int, int, dict[Key, int | None]]:
    """(member, week, k, published values) of a MeasureReport built here; ValueError when it is not one."""
    try:
        if report.get("resourceType") != "MeasureReport" or report.get("measure") != MEASURE:
            raise ValueError("not a healthsilk weekly MeasureReport")
        ext = {e["url"].removeprefix(EXT): e["valueInteger"] for e in report.get("extension", [])}
        member = report["reporter"]["identifier"]["value"]
        values: dict[Key, int | None] = {}
        for group in report.get("group", []):
            disease = group["code"]["coding"][0]["code"]
            region = next(e["valueString"] for e in group["extension"] if e["url"] == EXT + "region")
            values[(disease, region, ALL, ALL)] = _count(group["population"][0])
            for stratum in group["stratifier"][0]["stratum"]:
                parts = {c["code"]["coding"][0]["code"]: c["value"]["coding"][0]["code"] for c in stratum["component"]}
                values[(disease, region, parts["age-band"], parts["sex"])] = _count(stratum["population"][0])
        return member, int(ext["week"]), int(ext["k"]), values
    except (KeyError, IndexError, TypeError, StopIteration) as exc:
        raise ValueError(f"malformed weekly MeasureReport: {exc!r}") from None


def _group(disease: str, region: str) -> dict[str, Any]:
    known = by_code(disease)
    coding = {"system": ICD10[0], "code": disease} | ({"display": known.name} if known else {})
    return {
        "code": {"coding": [coding]},
        "extension": [{"url": EXT + "region", "valueString": region}],
        "population": [],
        "stratifier": [{"code": [{"coding": [{"system": STRAT, "code": "age-band-x-sex"}]}], "stratum": []}],
    }


def _population(value: int | None) -> dict[str, Any]:
    if value is None:
        return {"code": POPULATION, "extension": [{"url": EXT + "suppressed", "valueBoolean": True}]}
    return {"code": POPULATION, "count": value}


def _count(population: dict[str, Any]) -> int | None:
    return int(population["count"]) if "count" in population else None
