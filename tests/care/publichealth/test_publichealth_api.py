"""Public-health reporting over HTTP: two real institution APIs (a provider in Benin, a PUBLIC_HEALTH ministry) on
geth; the provider anchors its week, the ministry sees the alert in the one inbox and reads the dashboard; every
route checks its caller and refusals change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.auth.store import SCOPES
from care.publichealth import synthetic
from ledger.publichealth import iso_week
from tests.api.api_world import ApiWorld, Member, admit, assert_problem
from tests.conftest import RunningNetwork
from tests.support.chain_clock import chain_now
from tests.support.served_api import ServedApi, served_api


@dataclass
class Api:
    world: ApiWorld
    served: ServedApi

    def as_scope(self, scope: str) -> httpx.Client:
        return self.world.as_scope(scope)

    def stop(self) -> None:
        self.world.close()
        self.served.stop()


def _start(net: RunningNetwork, root: Path, member: Member, other: Member) -> Api:
    served = served_api(net, member.identity, root, name=member.name)
    tokens = {scope: served.token(f"test-{scope}", {scope}) for scope in SCOPES}
    world = ApiWorld(net=net, url=served.url, app=served.app, hospital=member, other=other, tokens=tokens, data_dir=root)
    return Api(world, served)


@pytest.fixture(scope="module")
def apis(geth_network: RunningNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Api]]:
    provider = admit(geth_network, "ph-api/provider", "Mono Provider Test Hospital", "BJ", ["PROVIDER"])
    ministry = admit(geth_network, "ph-api/ministry", "Ministry Test Surveillance", "CN", ["PUBLIC_HEALTH"])
    root = tmp_path_factory.mktemp("ph-api")
    started = [_start(geth_network, root / "provider", provider, ministry), _start(geth_network, root / "ministry", ministry, provider)]
    yield started[0], started[1]
    for api in started:
        api.stop()


def test_report_alert_inbox_and_dashboard(apis: tuple[Api, Api]) -> None:
    provider, ministry = apis
    w = provider.world
    now = chain_now(w.net.w3)
    week = iso_week(now)
    resources = [synthetic.malaria(now, sex, year) for sex, year in [("female", 1990), ("female", 1991), ("female", 1988), ("male", 1970), ("male", 1999)]]
    resources.append(synthetic.cholera(now, "male", 1982))
    for resource in resources:
        patient = w.new_patient()
        w.grant(patient, w.hospital.address, ["SUMMARY", "LAB"])
        answer = provider.as_scope("write").post(f"/v1/patients/{patient.address}/records", json=resource)
        assert answer.status_code == 201, answer.text

    preview = provider.as_scope("read").get(f"/v1/publichealth/reports/{week}/preview")
    assert preview.status_code == 200, preview.text
    groups = {g["code"]["coding"][0]["code"]: g for g in preview.json()["measure_report"]["group"]}
    assert groups["B50"]["population"][0]["count"] == 5
    assert "count" not in groups["A00"]["population"][0], "one cholera case is suppressed"

    assert_problem(provider.as_scope("read").post("/v1/publichealth/reports", json={"week": week}), 403)
    future = iso_week(now + 14 * 86400)
    assert_problem(provider.as_scope("write").post("/v1/publichealth/reports", json={"week": future}), 422)
    assert_problem(provider.as_scope("write").post("/v1/publichealth/reports", json={"week": 202199}), 422)
    sent = provider.as_scope("write").post("/v1/publichealth/reports", json={"week": week})
    assert sent.status_code == 201, sent.text
    report = sent.json()
    assert report["encrypted"] and report["k"] == 5 and len(report["alerts"]) >= 1
    again = provider.as_scope("write").post("/v1/publichealth/reports", json={"week": week})
    assert_problem(again, 409)
    listed = ministry.as_scope("read").get("/v1/publichealth/reports", params={"week": week, "member": w.hospital.address}).json()
    assert [r["report_id"] for r in listed] == [report["report_id"]]

    # The ministry's inbox (GET /v1/alerts, every source) shows the cholera alert; no patient in it.
    inbox = ministry.as_scope("read").get("/v1/alerts")
    assert inbox.status_code == 200, inbox.text
    cholera = [a for a in inbox.json() if a["source"] == "publichealth" and a["details"]["disease"] == "A00" and a["details"]["report_id"] == report["report_id"]]
    assert len(cholera) == 1 and cholera[0]["kind"] == "outbreak" and cholera[0]["subject"] == "BJ"
    alert_id = cholera[0]["id"]
    ack = provider.as_scope("write").post(f"/v1/publichealth/alerts/{alert_id}/acknowledge")
    assert ack.status_code == 200, ack.text
    assert_problem(provider.as_scope("write").post(f"/v1/publichealth/alerts/{alert_id}/acknowledge"), 409)
    assert_problem(provider.as_scope("write").post("/v1/publichealth/alerts/publichealth:999999/acknowledge"), 422)

    # Alerts by hand: PUBLIC_HEALTH only.
    body = {"disease": "A00", "country": "BJ", "division": "MO", "week": week, "level": 3}
    assert_problem(provider.as_scope("write").post("/v1/publichealth/alerts", json=body), 403)
    raised = ministry.as_scope("write").post("/v1/publichealth/alerts", json=body)
    assert raised.status_code == 201, raised.text
    assert raised.json()["rule"] == 0 and raised.json()["raised_by"] == ministry.world.hospital.address

    # The dashboard: the ministry's only.
    assert_problem(provider.as_scope("read").get("/v1/publichealth/dashboard"), 403)
    board = ministry.as_scope("read").get("/v1/publichealth/dashboard", params={"last_week": week})
    assert board.status_code == 200, board.text
    series = {(s["disease"], s["country"]): s for s in board.json()["series"]}
    assert series[("A00", "BJ")]["points"][-1]["suppressed"]
    assert series[("B50", "BJ")]["points"][-1]["count"] >= 5
    page = ministry.as_scope("read").get("/v1/publichealth/dashboard", params={"last_week": week, "format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "<script" not in page.text.lower() and "Cholera" in page.text


def _cli(api: Api, scope: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALTHSILK_API_URL": api.world.url, "HEALTHSILK_API_TOKEN": api.world.tokens[scope], "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "wallet.cli", "--lang", "en", "publichealth", *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_cli_preview_dashboard_and_refusals(apis: tuple[Api, Api], tmp_path: Path) -> None:
    provider, ministry = apis
    week = iso_week(chain_now(provider.world.net.w3))
    preview = _cli(provider, "read", "report", str(week), "--preview")
    assert preview.returncode == 0, preview.stderr
    assert "nothing was anchored" in preview.stdout
    page = tmp_path / "dashboard.html"
    written = _cli(ministry, "read", "dashboard", "--to", str(week), "--html", str(page))
    assert written.returncode == 0, written.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script" not in text.lower()
    table = _cli(ministry, "read", "dashboard", "--to", str(week))
    assert table.returncode == 0 and "Malaria" in table.stdout, table.stdout + table.stderr
    refused = _cli(provider, "read", "dashboard")
    assert refused.returncode != 0 and "PUBLIC_HEALTH" in (refused.stdout + refused.stderr)
    no_role = _cli(provider, "write", "alert", "raise", "--disease", "A00", "--country", "BJ", "--week", str(week))
    assert no_role.returncode != 0
    listed = _cli(provider, "read", "alert", "list", "--json")
    assert listed.returncode == 0 and any(a["details"]["disease"] == "A00" for a in json.loads(listed.stdout))
