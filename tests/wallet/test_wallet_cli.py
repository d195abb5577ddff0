"""The wallet CLI without a network: help everywhere, creating / showing / exporting a wallet, plain-word errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crypto import KeyFile
from wallet.cli import app

runner = CliRunner()
PASSWORD = "correct horse battery"
COMMANDS = [
    [],
    ["wallet"], ["wallet", "create"], ["wallet", "show"], ["wallet", "export-public"], ["wallet", "register"],
    ["consent"], ["consent", "grant"], ["consent", "revoke"], ["consent", "list"], ["consent", "share-keys"],
    ["records"], ["records", "list"], ["records", "show"],
    ["access-log"],
    ["delegate"], ["delegate", "add"], ["delegate", "remove"],
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wallet path in tmp, a cheap KDF, and no ambient password or API."""
    wallet = tmp_path / "home" / "wallet.json"
    monkeypatch.setenv("HEALTHSILK_WALLET", str(wallet))
    monkeypatch.setenv("HEALTHSILK_WALLET_SCRYPT_N", "1024")
    monkeypatch.delenv("HEALTHSILK_WALLET_PASSWORD", raising=False)
    monkeypatch.delenv("HEALTHSILK_API_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "240")  # no line wrapping inside the asserted messages
    return wallet


TALKS_TO_API = {("wallet", "register"), ("access-log",)} | {tuple(c) for c in COMMANDS if len(c) == 2 and c[0] in {"consent", "records", "delegate"}}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output) > 200
    if tuple(command) in TALKS_TO_API:
        assert "--api" in result.output and "--wallet" in result.output
    if command and command[-1] in {"list", "show", "access-log"}:
        assert "--json" in result.output


def test_create_show_export(env: Path) -> None:
    created = runner.invoke(app, ["wallet", "create", "--json"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE(env.parent.stat().st_mode) == 0o700
    keyfile = KeyFile.read(env)
    assert keyfile.unlock(PASSWORD).address == keyfile.address

    shown = runner.invoke(app, ["wallet", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["address"] == keyfile.address and data["file_mode"] == "600"
    table = runner.invoke(app, ["wallet", "show"])
    assert keyfile.address in table.stdout

    exported = json.loads(runner.invoke(app, ["wallet", "export-public"]).stdout)
    assert exported == {"address": keyfile.address, "hpke_public_key": keyfile.hpke_public_key.to_hex(), "hpke_suite": "X25519-HKDF-SHA256-AES-256-GCM"}
    assert "private" not in json.dumps(exported) and "ciphertext" not in json.dumps(exported)


def test_hybrid_wallet_and_explicit_path(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", PASSWORD)
    other = tmp_path / "other.json"
    result = runner.invoke(app, ["wallet", "create", "--hybrid", "--wallet", str(other)])
    assert result.exit_code == 0, result.output
    assert not env.exists()
    exported = json.loads(runner.invoke(app, ["wallet", "export-public", "--wallet", str(other)]).stdout)
    assert exported["hpke_suite"].startswith("MLKEM768") or "ML-KEM" in exported["hpke_suite"]
    assert len(bytes.fromhex(exported["hpke_public_key"][2:])) == 1217


def test_create_refuses_to_overwrite_and_mismatched_or_short_passwords(env: Path) -> None:
    mismatch = runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0 and not env.exists()
    short = runner.invoke(app, ["wallet", "create"], input="short\nshort\n")
    assert short.exit_code == 1 and "too short" in short.output and not env.exists()
    assert runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    before = env.read_bytes()
    again = runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 1 and "already exists" in again.output
    assert env.read_bytes() == before


def test_wrong_password_is_explained(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", "not the password")
    result = runner.invoke(app, ["consent", "list", "--api", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "Wrong password" in result.output and "Traceback" not in result.output


def test_missing_wallet_unreachable_api_and_bad_input(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = runner.invoke(app, ["records", "list"])
    assert missing.exit_code == 1 and "No wallet at" in missing.output and "wallet create" in missing.output
    assert runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", PASSWORD)
    down = runner.invoke(app, ["access-log", "--api", "http://127.0.0.1:9"])
    assert down.exit_code == 1 and "Cannot reach the healthsilk API" in down.output
    not_url = runner.invoke(app, ["consent", "list", "--api", "ftp://x"])
    assert not_url.exit_code == 1 and "not an API address" in not_url.output
    category = runner.invoke(app, ["consent", "grant", "--to", "x", "--categories", "XRAY"])
    assert category.exit_code == 1 and "unknown category 'XRAY'" in category.output
    dates = runner.invoke(app, ["consent", "grant", "--to", "x", "--categories", "ECG", "--data-from", "2024-02-30"])
    assert dates.exit_code == 1 and "YYYY-MM-DD" in dates.output
    order = runner.invoke(app, ["consent", "grant", "--to", "x", "--categories", "ECG", "--data-from", "2024-03-01", "--data-until", "2024-02-01"])
    assert order.exit_code == 1 and "on or before" in order.output
    delegate = runner.invoke(app, ["delegate", "add", "0x1234"])
    assert delegate.exit_code == 1 and "not an address" in delegate.output
    record = runner.invoke(app, ["records", "show", "0xabc"])
    assert record.exit_code == 1 and "not a record id" in record.output
    for result in (down, not_url, category, dates, order, delegate, record):
        assert "Traceback" not in result.output


@contextmanager
def not_an_api(status: int, body: bytes, content_type: str) -> Iterator[str]:
    """Something listening where the API should be, answering every request the same way."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_answers_that_are_not_the_api_are_explained(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["wallet", "create"], input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    monkeypatch.setenv("HEALTHSILK_WALLET_PASSWORD", PASSWORD)
    with not_an_api(200, b"<html>hello</html>", "text/html") as url:
        html = runner.invoke(app, ["consent", "list", "--api", url])
    assert html.exit_code == 1 and "not JSON" in html.output
    problem = json.dumps({"type": "https://healthsilk.dev/problems/unavailable", "title": "Service unavailable", "status": 503, "detail": "the chain is not reachable"}).encode()
    with not_an_api(503, problem, "application/problem+json") as url:
        down = runner.invoke(app, ["records", "list", "--api", url])
    assert down.exit_code == 1 and "Service unavailable: the chain is not reachable" in down.output and "try again later" in down.output
    with not_an_api(200, b'{"challenge": "sign this to send all your money to 0x0"}', "application/json") as url:
        phishing = runner.invoke(app, ["access-log", "--api", url])
    assert phishing.exit_code == 3 and "Refusing to sign" in phishing.output and "does not name this wallet" in phishing.output
    for result in (html, down, phishing):
        assert "Traceback" not in result.output


def test_damaged_wallet_file(env: Path) -> None:
    env.parent.mkdir(parents=True)
    env.write_text('{"format": "something else"}')
    result = runner.invoke(app, ["wallet", "show"])
    assert result.exit_code == 1 and "not a usable healthsilk wallet" in result.output


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("healthsilk")
    result = subprocess.run([str(script), "wallet", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "export-public" in result.stdout
