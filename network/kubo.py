"""Kubo, the reference IPFS node, as the local network runs it: offline, loopback only, RPC behind a secret.

`KuboNode.prepare()` initialises the repo (IPFS_PATH) once and rewrites the settings that matter here on
every start, so a hand-edited config or an older repo cannot bring back bootstrap peers, public listeners
or an open RPC. The RPC accepts only `Authorization: Bearer <secret>` (Kubo's `API.Authorizations`); the
secret is generated at first start and kept in a 0600 file beside the repo.

Offline (the default) the node has no swarm at all. With `swarm_port` it listens for peers on 127.0.0.1
only and dials only the peers it is given (`Peering.Peers`): what an IPFS Cluster of local peers needs.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from network.settings import LOOPBACK

# The project's import profile, also made the node's default, so that an add without explicit
# parameters (a tool, a shell user) still yields the CIDs the client asks for.
IMPORT_DEFAULTS = {
    "CidVersion": 1,
    "UnixFSRawLeaves": True,
    "UnixFSChunker": "size-262144",
    "HashFunction": "sha2-256",
    "UnixFSFileMaxLinks": 174,
    "UnixFSDAGLayout": "balanced",
}
AUTH_USER = "healthsilk"
EMPTY_DIRECTORY = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
# Environment of every Kubo process: no telemetry, whatever a plugin default or a future release says.
QUIET_ENV = {"IPFS_TELEMETRY": "off", "DO_NOT_TRACK": "1"}


class KuboError(RuntimeError):
    """Kubo could not be set up; the message says what to do."""


def ensure_api_secret(path: Path) -> str:
    """The RPC secret stored at `path`, created (random, mode 0600) if there is none yet."""
    existing = read_api_secret(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return read_api_secret(path) or _refuse(path, "is empty")
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


def read_api_secret(path: Path) -> str | None:
    """The secret in `path`, or None if the file does not exist; refuses a file others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _refuse(path, f"is readable by other users (mode {stat.S_IMODE(mode):o}); run chmod 600 on it")
    secret = path.read_text().strip()
    return secret or _refuse(path, "is empty")


def _refuse(path: Path, why: str) -> str:
    raise KuboError(f"IPFS RPC secret file {path} {why}")


def offline_config(config: dict[str, Any], *, api_port: int, secret: str, swarm_port: int | None = None,
                   peers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`config` with every network-facing setting forced to loopback-only and the RPC locked to `secret`."""
    c = json.loads(json.dumps(config))  # a deep copy: the caller's dict stays as it was
    _section(c, "Addresses").update({
        "API": [f"/ip4/{LOOPBACK}/tcp/{api_port}"],
        "Gateway": [],  # no HTTP gateway: the project reads through the RPC only
        "Swarm": [] if swarm_port is None else [f"/ip4/{LOOPBACK}/tcp/{swarm_port}"],
        "Announce": [],
        "AppendAnnounce": [],
        "NoAnnounce": [],
    })
    _section(c, "API")["Authorizations"] = {AUTH_USER: {"AuthSecret": f"bearer:{secret}", "AllowedPaths": ["/api/v0"]}}
    c["Bootstrap"] = []
    c["Peering"] = {"Peers": list(peers or [])}
    _section(c, "Discovery")["MDNS"] = {"Enabled": False}
    _section(c, "Routing").update({"Type": "none", "DelegatedRouters": []})
    # AutoConf would fetch bootstrap peers, resolvers and routers from conf.ipfs-mainnet.org; with it off,
    # every field that could hold its "auto" placeholder must be explicit or the daemon refuses to start.
    _section(c, "AutoConf")["Enabled"] = False
    _section(c, "DNS")["Resolvers"] = {}
    _section(c, "Ipns")["DelegatedPublishers"] = []
    _section(c, "AutoTLS")["Enabled"] = False
    _section(c, "Provide")["Enabled"] = False
    _section(c, "HTTPRetrieval")["Enabled"] = False
    swarm = _section(c, "Swarm")
    swarm.update({"DisableNatPortMap": True, "RelayClient": {"Enabled": False}, "RelayService": {"Enabled": False}})
    # Plain TCP between the listed peers: no QUIC, WebTransport, WebRTC, WebSocket or relayed connections.
    _section(swarm, "Transports")["Network"] = {"QUIC": False, "WebTransport": False, "WebRTCDirect": False, "Websocket": False, "Relay": False, "TCP": True}
    _section(c, "Import").update(IMPORT_DEFAULTS)
    _section(_section(c, "Plugins"), "Plugins")["telemetry"] = {"Disabled": True, "Config": {"Mode": "off"}}
    return c


def _section(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """`parent[key]` as a dict to fill in (Kubo writes empty sections as null)."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


@dataclass(frozen=True)
class KuboNode:
    """One Kubo repo and how to run it; `api_port` serves the RPC on 127.0.0.1."""

    binary: Path
    repo: Path
    api_port: int
    secret_file: Path
    swarm_port: int | None = None  # None: offline, no swarm at all
    peers: list[dict[str, Any]] = field(default_factory=list)  # Peering.Peers entries (ID, Addrs)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def config_file(self) -> Path:
        return self.repo / "config"

    def env(self) -> dict[str, str]:
        return {"IPFS_PATH": str(self.repo), **QUIET_ENV}

    def argv(self) -> list[str]:
        argv = [str(self.binary), "daemon"]
        return argv + ["--offline"] if self.swarm_port is None else argv

    def prepare(self) -> str:
        """Initialise the repo if needed, rewrite its network settings, and return the RPC secret."""
        if not self.binary.exists():
            raise KuboError(f"Kubo is not built: {self.binary} is missing; run `make engines` (or `bash network/engines/build.sh ipfs`)")
        secret = ensure_api_secret(self.secret_file)
        if not self.config_file.exists():
            self._refuse_foreign_repo()
            self.repo.mkdir(parents=True, exist_ok=True)
            # --empty-repo: no welcome files; the test profile starts from loopback addresses and no bootstrap.
            self._run("init", "--empty-repo", "--profile", "test")
            # init pins an empty directory for IPNS, which stays unused; without it every pin on the node
            # is a record object, so pins can be reconciled with the anchors on chain.
            self._run("pin", "rm", EMPTY_DIRECTORY)
        config = offline_config(json.loads(self.config_file.read_text()), api_port=self.api_port, secret=secret, swarm_port=self.swarm_port, peers=self.peers)
        tmp = self.config_file.with_name("config.healthsilk-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the config holds the secret too
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=2)
        tmp.replace(self.config_file)
        return secret

    def peer_id(self) -> str:
        """The node's libp2p identity (from its config; the repo must be prepared)."""
        return str(json.loads(self.config_file.read_text())["Identity"]["PeerID"])

    def ready(self) -> bool:
        """Readiness probe: an authenticated `id` answers (so the secret works, not only the port)."""
        secret = read_api_secret(self.secret_file)
        reply = httpx.post(f"{self.api_url}/api/v0/id", headers={"Authorization": f"Bearer {secret}"}, timeout=2)
        return reply.status_code == 200

    def _refuse_foreign_repo(self) -> None:
        # The old embedded Node.js node kept its blocks here in a layout Kubo does not read.
        if (self.repo / "pins.json").exists() or (self.repo / "identity.json").exists():
            raise KuboError(
                f"{self.repo} holds a repo of the former embedded Node.js IPFS node, which Kubo cannot open; "
                "its objects keep their CIDs but must be re-added: `healthsilk network reset` starts afresh"
            )

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(self.binary), *args], check=False, env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise KuboError(f"`ipfs {' '.join(args)}` failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
