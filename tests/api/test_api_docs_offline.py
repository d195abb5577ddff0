"""/docs works on a closed network: Swagger UI, its CSS and the favicon come from the API itself (fastapi-offline),
and headless Chromium, for which every address beyond loopback leads to a dead proxy, renders every operation."""

from __future__ import annotations

import html
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from api_world import ApiWorld

URL = re.compile(r"https?://[^\s\"'<>()]+")
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
LOOPBACK = {"127.0.0.1", "localhost"}


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed and could not be (`apt-get install -y chromium`; .ci/run installs it)")
    return path


@contextmanager
def dead_proxy() -> Iterator[int]:
    """A loopback port that is bound but never listens: every connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _foreign(urls: list[str]) -> list[str]:
    return [url for url in urls if urlparse(url).hostname not in LOOPBACK]


@pytest.mark.parametrize(
    ("page_path", "expected_assets"),
    [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}), ("/redoc", {"redoc.standalone.js", "favicon.png"})],
)
def test_docs_pages_load_their_assets_from_this_server(http: httpx.Client, page_path: str, expected_assets: set[str]) -> None:
    page = http.get(page_path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert _foreign(URL.findall(page.text)) == [], f"{page_path} names a URL beyond this server"
    assets = ASSET.findall(page.text)
    assert {Path(urlparse(a).path).name for a in assets} >= expected_assets
    for asset in assets:
        reply = http.get(urljoin(str(http.base_url) + page_path, asset))
        assert reply.status_code == 200 and reply.content, f"{asset} is not served by the API"


def test_headless_chromium_renders_every_operation_offline(api: ApiWorld, http: httpx.Client, tmp_path: Path) -> None:
    chromium = _chromium()
    spec = http.get("/openapi.json").json()
    with dead_proxy() as proxy_port:
        # The implicit bypass keeps loopback direct (the API is there); everything else goes to the dead proxy.
        # (`--proxy-bypass-list=<-loopback>` would send loopback to the proxy too, and nothing could load.)
        argv = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--proxy-server=127.0.0.1:{proxy_port}", "--proxy-bypass-list=127.0.0.1",
            "--virtual-time-budget=30000", "--dump-dom", f"{api.url}/docs",
        ]  # fmt: skip
        result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=300)
    dom = result.stdout
    assert result.returncode == 0 and dom, result.stderr[-2000:]

    rendered_paths = {html.unescape(path) for path in re.findall(r'data-path="([^"]*)"', dom)}
    assert set(spec["paths"]) - rendered_paths == set(), "operations missing from the rendered page"
    summaries = {op["summary"] for item in spec["paths"].values() for op in item.values() if isinstance(op, dict) and op.get("summary")}
    assert summaries, "the document has no operation summaries to look for"
    assert [s for s in summaries if html.escape(s, quote=False) not in dom] == []
    assert spec["paths"]["/health"]["get"]["summary"] in dom  # a known route, by its summary
    assert _foreign([url for url in ASSET.findall(dom) if URL.match(url)]) == [], "the rendered page references a URL beyond this server"
