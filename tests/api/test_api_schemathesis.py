"""Schemathesis with every check over every operation of one real institution API: the OpenAPI document states
every rule the server enforces, so schemathesis finds zero failures.

The run uses schemathesis' own engine (the one behind `schemathesis run --checks all`) through its Python API,
with bounded examples per operation so it stays CI-sized: the examples, coverage and fuzzing phases (the coverage
phase is the one that sends boundary values such as the zero address, uint maxima and extra properties), positive
and negative generation, a fixed seed. The token holds every institution scope; patient-only routes then answer
403, which the document declares.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from api_world import ApiWorld, assert_problem
from eth_utils import to_checksum_address
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

MAX_EXAMPLES = 4
SEED = 1717
# Care-flow routes land in parallel with this test; their own tests cover them until they are in the document for
# good. Excluded by tag only, so every other operation (and any new one) is fuzzed.
CARE_FLOW_TAGS = ("cases", "emergency", "prescriptions", "public health", "alerts")
# Rules the document states in words because OpenAPI / JSON Schema cannot state them: a schema-valid request may
# still be refused with 422 here, and only here. Every other operation must accept every schema-valid request.
NOT_EXPRESSIBLE = {
    ("POST", "/v1/patients/{address}/records"): "FHIR R4 validity (the HL7 FHIR schema and required bindings, by reference)",
    ("POST", "/v1/consents/prepare"): "cross-field rules (delegate != patient, valid_from < valid_until) and a valid HPKE curve point",
    ("GET", "/v1/records/{record_id}"): "the query parameters flow and ref come together or not at all",
    ("POST", "/v1/consents/relay"): "the 65-byte signature must be a recoverable secp256k1 signature of the message",
    ("POST", "/v1/keys/release"): "the 65-byte signature must be a recoverable secp256k1 signature of the message",
    ("POST", "/v1/payments/claims/{claim_id}/confirmation"): "the 65-byte signature must be a recoverable secp256k1 signature",
    ("POST", "/v1/records/{record_id}/erasure"): "the 65-byte signature must be a recoverable secp256k1 signature",
}

def _eip55_addresses() -> st.SearchStrategy[str]:
    """The document's `eip55-address` format: checksummed, all-lowercase or all-uppercase 0x addresses."""
    raw = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address("0x" + b.hex()))
    return st.one_of(raw, raw.map(str.lower), raw.map(lambda a: "0x" + a[2:].upper()))


def _config(api: ApiWorld) -> SchemathesisConfig:
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]
    config = SchemathesisConfig.from_dict({"operations": [
        {"include-method": method, "include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": accepted}}}
        for method, path in NOT_EXPRESSIBLE
    ]})
    config.update(seed=SEED, max_failures=None)
    project = config.projects.override
    project.update(base_url=api.url, headers={"Authorization": f"Bearer {api.tokens['all']}"}, workers=1, request_timeout=60)
    project.checks.update(included_check_names=["all"])
    project.phases.update(phases=["examples", "coverage", "fuzzing"])
    project.generation.update(max_examples=MAX_EXAMPLES, database="none", deterministic=True)
    return config


def _failures(event: events.EngineEvent) -> list[str]:
    if not isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)) or event.status != Status.FAILURE:
        return []
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE:
                case = event.recorder.cases[case_id].value
                info = check.failure_info
                interaction = event.recorder.interactions.get(case_id)
                answer = interaction.response if interaction is not None else None
                said = f"{answer.status_code} {answer.content[:300]!r}" if answer is not None else "no answer"
                found.append(f"{event.recorder.label}: {check.name}: {info.failure.title if info else ''} "
                             f"[{case.method} {case.formatted_path} body={str(case.body)[:200]}] -> {said}")
    return found


def test_schemathesis_all_checks_every_operation(api: ApiWorld) -> None:
    schemathesis.openapi.format("eip55-address", _eip55_addresses())
    config = _config(api)
    schema: Any = schemathesis.openapi.from_url(f"{api.url}/openapi.json", config=config)
    schema.config.base_url = api.url
    schema = schema.exclude(tag=list(CARE_FLOW_TAGS))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the institution API lost operations"
    failures: list[str] = []
    errors: list[str] = []
    tested: set[str] = set()
    for event in from_schema(schema).execute():
        failures += _failures(event)
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format() if hasattr(event.info, 'format') else event.value!r}")
        elif isinstance(event, events.FatalError):
            pytest.fail(f"schemathesis stopped: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished) and event.recorder.cases:
            tested.add(event.recorder.label)
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(sorted(set(failures)))
    assert len(tested) == len(operations), sorted({f"{op.method.upper()} {op.path}" for op in operations} - tested)


def test_malformed_json_gets_the_same_documented_422_on_every_route(api: ApiWorld) -> None:
    document = api.app.openapi()
    filled = {"address": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "grantee": "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"}
    client = api.as_scope("all")
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            url = path
            for name in re.findall(r"\{([^}]+)\}", path):
                url = url.replace("{" + name + "}", filled.get(name, "0x" + "11" * 32 if name.endswith("_id") and "record" in name else "1"))
            answer = client.request(method.upper(), url, content=b'{"unterminated": ', headers={"Content-Type": "application/json"})
            problem = assert_problem(answer, 422, "malformed-json")
            assert "422" in operation["responses"], (method, path)
            assert problem["title"] == "Malformed JSON body"
            checked += 1
    assert checked > 20


def test_options_and_unknown_methods_name_every_method_of_the_path(api: ApiWorld) -> None:
    path = "/v1/patients/0x5B38Da6a701c568545dCfcB03FcB875f56beddC4/records"
    for method in ("OPTIONS", "PUT", "DELETE"):
        answer = api.as_scope("all").request(method, path)
        assert_problem(answer, 405, "method-not-allowed")
        assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}, answer.headers["allow"]


def test_document_states_the_rules_the_server_checks(api: ApiWorld) -> None:
    document = api.app.openapi()
    schemas = document["components"]["schemas"]
    assert schemas["EscrowIn"]["properties"]["amount"]["maximum"] == 2**128 - 1  # exact, not 3.402823669209385e+38
    assert schemas["ProgrammeIn"]["properties"]["default_annual_limit"]["maximum"] == 2**64 - 1
    provider = schemas["EmpanelIn"]["properties"]["provider"]
    assert provider["format"] == "eip55-address" and provider["not"] == {"const": "0x" + "00" * 20}
    assert schemas["PreAuthIn"]["properties"]["package_code"]["pattern"] == "^[!-~]{1,32}$"
    typed = schemas["RelayRequest"]["properties"]["typed_data"]
    assert {variant["properties"]["primaryType"]["const"] for variant in typed["oneOf"]} == {"RegisterPatient", "GrantConsent", "RevokeConsent", "SetDelegate"}
    assert all(variant["properties"]["message"]["additionalProperties"] is False for variant in typed["oneOf"])
    assert schemas["RelayRequest"]["properties"]["signature"]["pattern"] == "^0x[0-9a-fA-F]{130}$"
