"""A throwaway geth network for `.ci/brownie_check.sh`: start it, say where it is, keep it up until told to stop.

Run with the application's Python from the repository root:

    .venv/bin/python .ci/brownie_sandbox.py INFO_FILE

It starts `throwaway_network(engine="geth")` (free loopback ports, its own temp data dir, 3 governors, quorum 2),
writes two governors' key files and a would-be member's key file (the healthsilk format, whose embedded Ethereum
keystore brownie can open), then writes INFO_FILE (JSON, atomically: its existence means "ready") and waits.
SIGTERM or SIGINT stops the network and deletes the temp dir. The check kills only this process, by its PID.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from crypto import HpkePrivateKey, Identity, KeyFile, create_identity
from network.sandbox import throwaway_network

# Sandbox keys are throwaway (their accounts derive from public labels); a cheap scrypt cost keeps the check quick.
PASSWORD = "brownie-sandbox-only"
SCRYPT_N = 2**10


def _stop_on_signal(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(info_file: Path) -> int:
    stop = threading.Event()
    _stop_on_signal(stop)
    with throwaway_network("healthsilk-brownie-check", engine="geth") as sandbox:
        keys_dir = sandbox.settings.root / "brownie-keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        governor_keys = []
        for index, account in enumerate(sandbox.governors[:2]):
            path = keys_dir / f"governor-{index}.json"
            KeyFile.from_identity(Identity(account=account, hpke_key=HpkePrivateKey.generate()), PASSWORD, scrypt_n=SCRYPT_N).save(path)
            governor_keys.append(str(path))
        applicant, _ = create_identity(PASSWORD, scrypt_n=SCRYPT_N)
        applicant_key = applicant.save(keys_dir / "applicant.json")
        info = {
            "pid_note": "stop with SIGTERM to this process",
            "data_dir": str(sandbox.settings.root),
            "chain_id": sandbox.settings.chain_id,
            "gateway_url": sandbox.settings.gateway_url,
            "governor_keys": governor_keys,
            "applicant_key": str(applicant_key),
            "applicant_address": applicant.address,
            "password": PASSWORD,
        }
        tmp = info_file.with_name(info_file.name + ".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(info_file)
        print(f"brownie_sandbox: geth network up, gateway {sandbox.settings.gateway_url}, data {sandbox.settings.root}", flush=True)
        while not stop.wait(0.5):
            pass
    print("brownie_sandbox: network stopped", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: brownie_sandbox.py INFO_FILE")
    sys.exit(main(Path(sys.argv[1])))
