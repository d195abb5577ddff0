"""`healthsilk api serve | token create | token revoke`: loopback only, password from the environment, tokens shown once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api_world import ApiWorld
from typer.testing import CliRunner

from api.auth.store import AuthStore
from api.cli import app
from crypto import create_identity
from tests.conftest import free_port


def test_token_create_prints_once_and_stores_only_a_hash(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["token", "create", "--name", "lab-system", "--scopes", "read,write", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("hs_")
    store = AuthStore(tmp_path / "auth.sqlite3")
    found = store.check_token(token)
    assert found is not None and found.name == "lab-system" and found.scopes == {"read", "write"}
    assert store.check_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    store.close()
    assert token.encode() not in (tmp_path / "auth.sqlite3").read_bytes()
    listed = CliRunner().invoke(app, ["token", "list", "--data-dir", str(tmp_path)])
    assert "lab-system" in listed.output and token not in listed.output

    bad = CliRunner().invoke(app, ["token", "create", "--name", "x", "--scopes", "read,root", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown scope 'root'" in bad.output


def test_token_revoke_takes_effect_at_once(tmp_path: Path) -> None:
    token = CliRunner().invoke(app, ["token", "create", "--name", "ward", "--scopes", "read", "--data-dir", str(tmp_path)]).output.strip().splitlines()[-1]
    store = AuthStore(tmp_path / "auth.sqlite3")
    try:
        found = store.check_token(token)
        assert found is not None
        result = CliRunner().invoke(app, ["token", "revoke", found.id, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert store.check_token(token) is None
        again = CliRunner().invoke(app, ["token", "revoke", found.id, "--data-dir", str(tmp_path)])
        assert again.exit_code == 1 and "no token with id" in again.output
    finally:
        store.close()


def test_serve_refuses_non_loopback_hosts(tmp_path: Path) -> None:
    key = tmp_path / "member.json"
    keyfile, _ = create_identity("pw", scrypt_n=1024)
    keyfile.save(key)
    result = CliRunner().invoke(app, ["serve", "--member-key", str(key), "--host", "0.0.0.0", "--data-dir", str(tmp_path)], env={"HEALTHSILK_MEMBER_PASSWORD": "pw"})
    assert result.exit_code == 2 and "loopback" in result.output


def test_serve_runs_the_api_for_a_member_key(api: ApiWorld, tmp_path: Path) -> None:
    key = tmp_path / "member.json"
    keyfile, identity = create_identity("s3cret", scrypt_n=1024)
    keyfile.save(key)
    port = free_port()
    s = api.net.settings
    env = {
        **os.environ, "HEALTHSILK_MEMBER_PASSWORD": "s3cret", "HEALTHSILK_API_GATEWAY_URL": s.gateway_url, "HEALTHSILK_API_DEPLOYMENTS_FILE": str(s.deployments_file),
        "HEALTHSILK_IPFS_API_SECRET_FILE": str(s.ipfs_api_secret_file),
        "HEALTHSILK_IPFS_API": s.ipfs_url, "HEALTHSILK_API_DATA_DIR": str(tmp_path / "api"),
    }
    process = subprocess.Popen([sys.executable, "-c", "from api.cli import app; app()", "serve", "--member-key", str(key), "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()
        assert ready["checks"]["chain"]["ok"] and ready["checks"]["ipfs"]["ok"]
        assert not ready["checks"]["membership"]["ok"] and identity.address in ready["checks"]["membership"]["detail"]  # not admitted
    finally:
        process.terminate()
        process.wait(timeout=10)
