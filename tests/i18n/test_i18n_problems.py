"""Problem details in the caller's language: request validation (pydantic's messages mapped from their stable error
types), body limits, the record service's refusals; the machine fields (type URIs, `type`, `location`) stay the same."""

from __future__ import annotations

from typing import Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.limits import BodySizeLimit
from api.problems import install_body_limit_handler, install_problem_handlers
from i18n import use_language
from i18n.asgi import LanguageMiddleware
from i18n.validation import MESSAGES, validation_message
from records.errors import InvalidResourceError, RecordNotFoundError
from records.fhir import validate
from records.reading import locate


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    days: int = Field(ge=1, le=3650)
    purpose: Literal["TREATMENT", "RESEARCH"]


def _app() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    install_body_limit_handler(app)

    @app.post("/grants")
    def grant(body: Grant) -> dict[str, str]:
        return {"ok": body.grantee}

    @app.post("/fhir")
    def fhir(body: dict) -> dict[str, str]:  # type: ignore[type-arg]
        validate(body, max_bytes=100_000)
        return {"ok": "valid"}

    app.add_middleware(BodySizeLimit, max_bytes=2_000)
    app.add_middleware(LanguageMiddleware)
    return TestClient(app)


BAD_GRANT = {"grantee": "yinchuan", "days": 0, "purpose": "MARKETING", "note": "x"}


def _by_location(problem: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {issue["location"]: issue for issue in problem["errors"]}


def test_request_validation_speaks_the_callers_language_and_keeps_the_machine_fields() -> None:
    client = _app()
    answers = {lang: client.post("/grants", json=BAD_GRANT, headers={"Accept-Language": lang}) for lang in ("en", "fr", "zh-CN")}
    for tag, answer in zip(("en", "fr", "zh-Hans"), answers.values()):
        assert answer.status_code == 422 and answer.headers["content-language"] == tag
        assert answer.json()["type"].endswith("/invalid-request")
    english, french, chinese = (_by_location(answer.json()) for answer in answers.values())
    # the same issues, the same codes, in every language
    assert set(english) == set(french) == set(chinese) == {"body.grantee", "body.days", "body.purpose", "body.note"}
    assert {k: v["type"] for k, v in french.items()} == {k: v["type"] for k, v in chinese.items()} == {
        "body.grantee": "string_pattern_mismatch", "body.days": "greater_than_equal", "body.purpose": "literal_error", "body.note": "extra_forbidden"}
    assert french["body.days"]["message"] == "doit être supérieur ou égal à 1" and chinese["body.days"]["message"] == "必须大于或等于 1"
    assert english["body.days"]["message"] == "must be greater than or equal to 1"
    assert french["body.purpose"]["message"] == "doit être l'une des valeurs suivantes : 'TREATMENT', 'RESEARCH'"
    assert chinese["body.purpose"]["message"] == "必须是以下之一：'TREATMENT'、'RESEARCH'"
    assert " or " not in french["body.purpose"]["message"]
    assert "motif" in french["body.grantee"]["message"] and "0x[0-9a-fA-F]{40}" in french["body.grantee"]["message"]
    assert french["body.note"]["message"] == "champ inconnu : non autorisé ici" and chinese["body.note"]["message"] == "未知字段：此处不允许"
    assert answers["fr"].json()["title"] == "Requête invalide" and "body.days: doit être supérieur ou égal à 1" in answers["fr"].json()["detail"]
    missing = client.post("/grants", json={}, headers={"Accept-Language": "zh"}).json()
    assert {issue["type"] for issue in missing["errors"]} == {"missing"} and {issue["message"] for issue in missing["errors"]} == {"必填"}


def test_body_limits_answer_in_the_callers_language() -> None:
    client = _app()
    malformed = client.post("/grants", content=b'{"grantee": ', headers={"Content-Type": "application/json", "Accept-Language": "fr"})
    assert malformed.status_code == 422 and malformed.headers["content-language"] == "fr"
    body = malformed.json()
    assert body["type"].endswith("/malformed-json") and body["title"] == "Corps JSON mal formé"
    assert body["detail"].startswith("le corps de la requête n'est pas du JSON valide (l'imbrication est limitée à 1\u202f024 niveaux)")
    large = client.post("/grants", content=b"x" * 3_000, headers={"Content-Type": "text/plain", "Accept-Language": "zh-CN"})
    assert large.status_code == 413 and large.headers["content-language"] == "zh-Hans"
    assert large.json()["type"].endswith("/payload-too-large") and large.json()["title"] == "请求体过大"
    assert large.json()["detail"] == "请求体限制为 2000 字节"
    english = client.post("/grants", content=b"x" * 3_000, headers={"Content-Type": "text/plain"})
    assert english.json()["detail"] == "request bodies are limited to 2000 bytes" and english.headers["content-language"] == "en"


def test_an_invalid_fhir_upload_is_explained_element_by_element_in_the_callers_language() -> None:
    client = _app()
    observation = {"resourceType": "Observation", "status": "done", "code": {"text": "ECG"}, "subjectX": 1}
    french = client.post("/fhir", json=observation, headers={"Accept-Language": "fr"})
    assert french.status_code == 422 and french.headers["content-language"] == "fr"
    problem = french.json()
    assert problem["type"].endswith("/invalid-fhir") and problem["title"] == "Ressource FHIR invalide"
    assert problem["detail"].startswith("Observation FHIR R4B non valide : ")
    messages = {issue["field"]: issue["message"] for issue in problem["errors"]}
    assert messages["subjectX"].startswith("élément inconnu : ne fait pas partie de FHIR R4B à cet endroit")
    chinese = client.post("/fhir", json={"resourceType": "Observation", "code": {"text": "ECG"}}, headers={"Accept-Language": "zh"}).json()
    assert chinese["title"] == "FHIR 资源无效" and chinese["errors"][0]["location"] == "body.status" and chinese["errors"][0]["message"] == "缺少必填元素"


def test_the_record_service_refuses_in_the_current_language() -> None:
    with use_language("fr"), pytest.raises(RecordNotFoundError, match="^un identifiant de dossier fait 32 octets$"):
        locate(None, b"short")  # type: ignore[arg-type]  # refused before anything is asked of the chain
    with use_language("zh_Hans"), pytest.raises(InvalidResourceError, match="^FHIR 资源不是有效的 JSON"):
        validate("{not json", max_bytes=1_000)
    with pytest.raises(RecordNotFoundError, match="^a record id is 32 bytes$"):
        locate(None, b"short")  # type: ignore[arg-type]


class _Unknown(BaseModel):
    when: complex


def test_a_pydantic_error_type_without_a_message_keeps_pydantics_english() -> None:
    with pytest.raises(ValidationError) as caught:
        _Unknown.model_validate({"when": "soon"})
    (error,) = caught.value.errors()
    assert error["type"] not in MESSAGES
    with use_language("fr"):
        assert validation_message(error) == error["msg"]


def test_a_validators_own_words_are_kept_without_pydantics_prefix() -> None:
    from records.models import KeyShare

    with use_language("fr"), pytest.raises(ValidationError) as caught:
        KeyShare.model_validate({"record_id": "0xzz", "wrap": "0x00"})
    issue = next(e for e in caught.value.errors() if e["loc"] == ("record_id",))
    assert issue["type"] == "value_error"
    with use_language("fr"):
        assert validation_message(issue) == "hexadécimal préfixé par 0x non valide"


def test_an_unexpected_failure_is_a_500_in_the_callers_language() -> None:
    """Starlette answers a 500 outside the language middleware: the handler still speaks the caller's language."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_middleware(LanguageMiddleware)
    client = TestClient(app, raise_server_exceptions=False)
    chinese = client.get("/broken", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 500 and chinese.headers["content-language"] == "zh-Hans" and chinese.json()["type"].endswith("/internal-error")
    assert chinese.json()["title"] != "Internal server error" and "a bug" not in chinese.text
    english = client.get("/broken")
    assert english.headers["content-language"] == "en" and english.json()["title"] == "Internal server error"
