"""Property-based run of the OpenAPI document against the live API (schemathesis): no 5xx, no schema violations.

Bounded: every GET and a few POSTs, a handful of examples each, with a token holding every scope (patient-only
routes then answer 403, which the document declares).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from api_world import ApiWorld
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_headers_conformance, response_schema_conformance, status_code_conformance

from schemathesis.checks import not_a_server_error

MAX_EXAMPLES = 8
HEX_ID = re.compile(r"0x[0-9a-fA-F]{40}|0x[0-9a-fA-F]{64}")
POSTS = ("/v1/auth/challenge", "/v1/auth/session", "/v1/consents/prepare", "/v1/consents/relay", "/v1/admin/tokens")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def schema(api: ApiWorld) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def test_openapi_document_is_complete(schema: schemathesis.BaseSchema, api: ApiWorld) -> None:
    document = api.app.openapi()
    assert set(document["components"]["securitySchemes"]) == {"institutionToken", "patientToken"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if int(code) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (method, path, code)
            # /v1/keys/release carries no token: the reader signs the request (EIP-712) and the wraps open only with its key.
            public = path in ("/health", "/ready", "/v1/auth/challenge", "/v1/auth/session", "/v1/keys/release")
            assert public == ("security" not in operation), (method, path)
            if not public:
                assert {"401", "403"} & set(responses) == {"401", "403"} or path in ("/v1/network", "/v1/members"), (method, path)


def _lower_hex(value: Any) -> Any:
    """Random mixed-case addresses almost never carry a valid EIP-55 checksum (always 422): send them lowercase."""
    if isinstance(value, str) and HEX_ID.fullmatch(value):
        return value.lower()
    if isinstance(value, dict):
        return {key: _lower_hex(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_hex(item) for item in value]
    return value


def _plausible(case: schemathesis.Case) -> schemathesis.Case:
    if case.path_parameters:
        case.path_parameters = _lower_hex(dict(case.path_parameters))
    if isinstance(case.body, (dict, list)):
        case.body = _lower_hex(case.body)
    return case


def _operations(document: dict) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item if method == "get" or path in POSTS]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_schemathesis_fuzz(schema: schemathesis.BaseSchema, api: ApiWorld, method: str) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['all']}"}
    operations = [(m, p) for m, p in _operations(api.app.openapi()) if m == method]
    assert operations
    for op_method, path in operations:
        operation = schema[path][op_method]

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy().map(_plausible))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS)

        run()
