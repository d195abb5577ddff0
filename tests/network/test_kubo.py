"""Kubo as network/kubo.py sets it up: an RPC only the secret opens, hostile bodies, offline and loopback only,
and peers that reach only each other on loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from network.ipfs_client import (
    ADD_PARAMS,
    SECRET_ENV,
    SECRET_FILE_ENV,
    IpfsClient,
    IpfsUnauthorized,
    api_secret_for,
    remember_api_secret,
)
from network.kubo import (
    KuboError,
    KuboNode,
    ensure_api_secret,
    offline_config,
    read_api_secret,
)
from network.sandbox import free_port
from network.settings import NetworkSettings
from tests.conftest import RunningNetwork
from tests.network.kubo_process import (
    KuboProcess,
    block_keys,
    listening_sockets,
    running_kubo,
    wait_ready,
)
from tests.records.records_world import build_world, lab_observation

MiB = 1024 * 1024
DEEP = 100_000  # about 200 KB of nested arrays: once crashed the project's Python servers' JSON parser


@pytest.fixture
def ipfs_node(tmp_path: Path) -> Iterator[KuboProcess]:
    """A fresh Kubo in a temp repo (overrides tests/network/conftest.py's fixture of the former Node.js node)."""
    yield from running_kubo(tmp_path)


@pytest.fixture
def client(ipfs_node: KuboProcess) -> Iterator[IpfsClient]:
    with ipfs_node.client() as c:
        yield c


# ---- the RPC secret -----------------------------------------------------------------------

OUTSIDERS = {
    "no Authorization header": {},
    "a wrong bearer secret": {"Authorization": "Bearer not-the-secret"},
    "an empty bearer": {"Authorization": "Bearer"},
    "basic auth": {"Authorization": "Basic aGVhbHRoc2lsazpwYXNzd29yZA=="},
}


@pytest.mark.parametrize("headers", OUTSIDERS.values(), ids=OUTSIDERS.keys())
def test_an_outsider_cannot_unpin_or_collect(ipfs_node: KuboProcess, client: IpfsClient, headers: dict[str, str]) -> None:
    data = os.urandom(MiB)
    cid = client.add(data)
    for command, params in [("pin/rm", {"arg": cid}), ("repo/gc", {}), ("block/rm", {"arg": cid}), ("cat", {"arg": cid}),
                            ("add", {}), ("config/show", {}), ("shutdown", {})]:
        r = httpx.post(f"{ipfs_node.api_url}/api/v0/{command}", params=params, headers=headers, files={"file": ("f", b"x")}, timeout=10)
        assert r.status_code == 403, (command, r.status_code, r.text)
        assert "Access Denied" in r.text
    assert client.is_pinned(cid)
    assert not block_keys(data, cid) & set(client.gc())  # the owner's GC: the object is pinned, kept
    assert client.cat(cid) == data


def test_the_client_without_the_secret_gets_a_clear_error(ipfs_node: KuboProcess) -> None:
    for secret in ("", "wrong"):
        with IpfsClient(ipfs_node.api_url, secret=secret) as c, pytest.raises(IpfsUnauthorized, match="HTTP 403.*HEALTHSILK_IPFS_API_SECRET"):
            c.add(b"x")
        with IpfsClient(ipfs_node.api_url, secret=secret) as c, pytest.raises(IpfsUnauthorized):
            c.version()  # Kubo lets any *known* secret check the version, not an unknown one


def test_the_secret_is_random_private_and_kept(tmp_path: Path) -> None:
    a, b = ensure_api_secret(tmp_path / "a"), ensure_api_secret(tmp_path / "b")
    assert a != b and len(a) >= 40
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o600
    assert ensure_api_secret(tmp_path / "a") == a  # a restart keeps the secret every client holds
    (tmp_path / "a").chmod(0o644)
    with pytest.raises(KuboError, match="readable by other users"):
        read_api_secret(tmp_path / "a")


def test_the_secret_is_not_on_the_command_line(ipfs_node: KuboProcess) -> None:
    assert ipfs_node.proc is not None
    cmdline = Path(f"/proc/{ipfs_node.proc.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{ipfs_node.proc.pid}/environ").read_bytes()
    assert ipfs_node.secret.encode() not in cmdline and ipfs_node.secret.encode() not in environ
    assert stat.S_IMODE(ipfs_node.node.config_file.stat().st_mode) == 0o600  # Kubo's config holds it too


def test_an_anchored_record_survives_an_outsiders_pin_rm_and_gc(chain: RunningNetwork, tmp_path: Path) -> None:
    world = build_world(chain, tmp_path)
    put = world.author.put(lab_observation(), world.patient.address)
    url = chain.settings.ipfs_url
    for headers in OUTSIDERS.values():
        assert httpx.post(f"{url}/api/v0/pin/rm", params={"arg": put.cid}, headers=headers).status_code == 403
        assert httpx.post(f"{url}/api/v0/repo/gc", headers=headers).status_code == 403
    with IpfsClient(url, secret=chain.settings.ipfs_api_secret) as owner:
        assert owner.is_pinned(put.cid)
        owner.gc()
    assert world.author.get(put.record_id).version == 1


# ---- hostile bodies -----------------------------------------------------------------------

def test_a_deeply_nested_body_does_not_take_the_node_down(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    kept = client.add(b"still here")
    body = b"[" * DEEP + b"]" * DEEP
    assert len(body) == 200_000
    requests = [
        ("id", {}, {"content": body, "headers": {"Content-Type": "application/json"}}),  # JSON where none is expected
        ("dag/put", {"input-codec": "dag-json", "store-codec": "dag-cbor", "pin": "false"}, {"files": {"file": ("f", body)}}),
        ("dag/put", {"input-codec": "dag-json", "store-codec": "dag-json", "pin": "false"}, {"files": {"file": ("f", body)}}),
        ("block/put", {"cid-codec": "dag-json"}, {"files": {"file": ("f", body)}}),
        ("add", ADD_PARAMS, {"files": {"file": ("f", body)}}),
    ]
    for command, params, kwargs in requests:
        for auth in ({}, ipfs_node.auth):  # refused at the door; then parsed (or refused) for the owner
            headers = {**kwargs.get("headers", {}), **auth}
            send = {key: value for key, value in kwargs.items() if key != "headers"}
            reply = httpx.post(f"{ipfs_node.api_url}/api/v0/{command}", params=params, headers=headers, timeout=60, **send)
            assert reply.status_code in ((200, 400, 500) if auth else (403,)), (command, reply.status_code, reply.text[:300])
            assert ipfs_node.proc is not None and ipfs_node.proc.poll() is None, f"Kubo died on {command}"
            assert client.node_id()["ID"]
    assert client.cat(kept) == b"still here"


# ---- configuration: offline, loopback only ------------------------------------------------

def test_config_is_offline_and_loopback_only() -> None:
    config = offline_config({"Bootstrap": ["auto"], "Addresses": {"Swarm": ["/ip4/0.0.0.0/tcp/4001"], "Gateway": ["/ip4/0.0.0.0/tcp/8080"]},
                             "Discovery": {"MDNS": {"Enabled": True}}, "Routing": {"Type": "auto"}, "DNS": {"Resolvers": {".": "auto"}}},
                            api_port=5999, secret="s3cret")
    assert config["Addresses"]["API"] == ["/ip4/127.0.0.1/tcp/5999"]
    assert config["Addresses"]["Gateway"] == [] and config["Addresses"]["Swarm"] == []
    assert config["Bootstrap"] == [] and config["Peering"] == {"Peers": []}
    assert config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Routing"] == {"Type": "none", "DelegatedRouters": []}
    assert config["AutoConf"]["Enabled"] is False and config["DNS"]["Resolvers"] == {}
    assert config["Plugins"]["Plugins"]["telemetry"]["Disabled"] is True
    assert config["API"]["Authorizations"] == {"healthsilk": {"AuthSecret": "bearer:s3cret", "AllowedPaths": ["/api/v0"]}}
    assert "auto" not in json.dumps(config)  # no AutoConf placeholder left anywhere


def test_the_running_node_has_the_offline_config(ipfs_node: KuboProcess, client: IpfsClient) -> None:
    running = httpx.post(f"{ipfs_node.api_url}/api/v0/config/show", headers=ipfs_node.auth).json()
    assert running["Bootstrap"] == [] and running["Routing"]["Type"] == "none"
    assert running["Addresses"]["Swarm"] == [] and running["Addresses"]["Gateway"] == []
    assert running["AutoConf"]["Enabled"] is False and running["Discovery"]["MDNS"]["Enabled"] is False
    ident = client.node_id()
    assert ident["ID"].startswith("12D3KooW") and not ident["Addresses"]  # offline: no swarm address at all


def test_the_node_listens_on_loopback_only(ipfs_node: KuboProcess) -> None:
    assert ipfs_node.proc is not None
    sockets = listening_sockets(ipfs_node.proc.pid)
    assert sockets, "found no socket of the Kubo process"
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    assert {port for _, port in sockets} == {ipfs_node.port}  # the RPC, and no gateway or swarm port


def test_the_former_nodes_repo_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ipfs").mkdir()
    (tmp_path / "ipfs" / "pins.json").write_text('{"version": 1, "recursive": []}')
    node = KuboNode(NetworkSettings().ipfs_binary, tmp_path / "ipfs", free_port(), tmp_path / "secret")
    with pytest.raises(KuboError, match="former embedded Node.js IPFS node.*network reset"):
        node.prepare()
    assert not node.config_file.exists()


def test_a_client_finds_the_secret_of_its_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    monkeypatch.setenv("HEALTHSILK_DATA_DIR", str(tmp_path / "data"))
    local = NetworkSettings.load()
    url = "http://127.0.0.1:1"  # nothing listens: only the secret lookup is exercised
    assert api_secret_for(url) is None and api_secret_for(local.ipfs_url) is None
    local_secret = ensure_api_secret(local.ipfs_api_secret_file)
    assert api_secret_for(local.ipfs_url + "/api/v0") == local_secret  # the local network's own file
    file_secret = ensure_api_secret(tmp_path / "file-secret")
    monkeypatch.setenv(SECRET_FILE_ENV, str(tmp_path / "file-secret"))
    assert api_secret_for(url) == file_secret
    monkeypatch.setenv(SECRET_ENV, "from-the-environment")
    assert api_secret_for(url) == "from-the-environment"  # the variable beats the file
    remember_api_secret(url + "/", "registered")
    assert api_secret_for(url) == "registered"  # a node this process started beats both


# ---- peers on loopback (the shape IPFS Cluster puts Kubo in) ------------------------------

def test_loopback_peers_serve_each_other_and_nothing_else(tmp_path: Path) -> None:
    ports = [(free_port(), free_port()) for _ in range(3)]
    binary = NetworkSettings().ipfs_binary
    bare = [KuboNode(binary, tmp_path / f"p{i}" / "ipfs", api, tmp_path / f"p{i}" / "secret", swarm_port=swarm) for i, (api, swarm) in enumerate(ports)]
    for node in bare:
        node.prepare()
    addresses = [{"ID": node.peer_id(), "Addrs": [f"/ip4/127.0.0.1/tcp/{node.swarm_port}"]} for node in bare]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, node in enumerate(bare):
            peered = KuboNode(binary, node.repo, node.api_port, node.secret_file, swarm_port=node.swarm_port, peers=addresses[:i] + addresses[i + 1:])
            peered.prepare()
            assert "--offline" not in peered.argv()
            with (tmp_path / f"p{i}.log").open("ab") as log:
                procs.append(subprocess.Popen(peered.argv(), env={**os.environ, **peered.env()}, stdout=log, stderr=subprocess.STDOUT))
        for node in bare:
            wait_ready(node)
        def rpc(node: KuboNode, command: str, **params: str) -> httpx.Response:
            # Not IpfsClient: its reads are offline=true by design, and here peers must fetch from each other.
            reply = httpx.post(f"{node.api_url}/api/v0/{command}", params=params, headers={"Authorization": f"Bearer {read_api_secret(node.secret_file)}"}, timeout=60)
            assert reply.status_code == 200, reply.text
            return reply

        data = os.urandom(MiB + 5)
        with IpfsClient(bare[0].api_url, secret=read_api_secret(bare[0].secret_file)) as writer:
            cid = writer.add(data)
        rpc(bare[1], "pin/add", arg=cid)  # peer 1 fetches the object from peer 0 over the loopback swarm
        procs[0].kill()  # the writer dies: peer 2 reads the copy peer 1 holds
        procs[0].wait(timeout=10)
        assert rpc(bare[2], "cat", arg=cid).content == data
        for proc, (api, swarm) in zip(procs[1:], ports[1:], strict=True):
            assert listening_sockets(proc.pid) == {("127.0.0.1", api), ("127.0.0.1", swarm)}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
