"""brownie run deploy --network healthsilk-local

Runs the project's migrations (migrations/m00*.py) against the network brownie is connected to, then checks
through the gateway that every contract they recorded has code.

How deployment works here, and why this script does not sign with a brownie account: the migrations are the one
deployment path (idempotent: a contract already recorded with code on chain is skipped, so running this again
changes nothing). They sign with the network operator's key (`<data dir>/operator.json`, written by `healthsilk
network up`) and send to the chain node's private port, because the permissioning gateway admits transactions
only from consortium members, and there is no member before the registry exists. So this script runs them with
the application's Python (`.venv/bin/python`, or $HEALTHSILK_PYTHON), which is where they and their web3 live;
only the operator of the network (whoever holds operator.json) can deploy. Everyone else reads and transacts
through the gateway: see `status.py` and `member_tx.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from brownie import web3

from scripts._healthsilk import PROJECT_ROOT, ScriptError, data_dir, deployed_addresses, saved_network

# Runs in the application's venv: the same steps as `healthsilk network up` after its services are up.
_MIGRATE = """
import json, sys
from pathlib import Path
from ledger.chain import connect
from ledger.compile import ensure_built
from migrations import MigrationContext, run_migrations
from migrations.genesis import ConsortiumGenesis
from network.launcher import LocalNetwork
from network.operator import Operator
from network.settings import NetworkSettings

network = LocalNetwork(NetworkSettings.load(Path(sys.argv[1])))
s = network.settings
ensure_built()
operator = Operator(mnemonic=json.loads(s.operator_file.read_text())["mnemonic"])
genesis = ConsortiumGenesis.load(network.genesis_file) if network.genesis_file.exists() else ConsortiumGenesis.operator_only(operator.address)
context = MigrationContext(w3=connect(s.node_url), operator=operator.account, deployments_file=s.deployments_file, genesis=genesis)
print(json.dumps(run_migrations(context)))
"""


def _app_python() -> Path:
    python = Path(os.environ.get("HEALTHSILK_PYTHON") or PROJECT_ROOT / ".venv" / "bin" / "python")
    if not python.exists():
        raise ScriptError(f"the application's Python ({python}) is missing: run `make install`, or set $HEALTHSILK_PYTHON")
    return python


def main() -> dict[str, str]:
    saved = saved_network()
    root = data_dir()
    if not (root / "operator.json").exists():
        raise ScriptError(
            f"{root} has no operator key, so this machine does not run that network: only its operator deploys "
            "(the migrations sign with the operator key on the chain node's private port); members read and transact "
            "through the gateway (`brownie run status`, `brownie run member_tx`)"
        )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([str(_app_python()), "-c", _MIGRATE, str(root)], check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise ScriptError("the migrations failed:\n" + (result.stderr or result.stdout)[-3000:])
    deployed_now = json.loads(result.stdout.strip().splitlines()[-1])
    print("migrations: " + (f"deployed {', '.join(deployed_now)}" if deployed_now else "nothing new (every contract already deployed)"))

    addresses = deployed_addresses(saved)
    for name, address in sorted(addresses.items()):
        size = len(web3.eth.get_code(address))  # read through the gateway, as any member would
        if size == 0:
            raise ScriptError(f"{name} is recorded at {address} but has no code on chain {saved.get('chain_id')}")
        print(f"  {name:20} {address}  {size:6} bytes of code")
    return addresses
