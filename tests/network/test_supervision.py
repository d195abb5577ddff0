"""`network up` supervises what it starts: a gateway, Kubo or chain node that dies comes back, with backoff,
logged, and `network status` shows the restarts; `network down` is never undone by the supervisor."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from network.processes import ManagedProcess
from network.sandbox import Sandbox, sandbox_network
from network.supervisor import backoff_seconds, read_restarts
from tests.support.rpc import rpc
from wallet.cli import app

WAIT_SECONDS = 60.0  # a ceiling for a loaded machine; the loop returns as soon as the condition holds


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - "not yet" while the component restarts
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_network(tmp_path_factory.mktemp("supervised"), "healthsilk-test/supervised", engine="geth", supervise=True) as sandbox:
        yield sandbox


def _kill_and_wait_back(sandbox: Sandbox, process: ManagedProcess, answers: Callable[[], bool]) -> int:
    old_pid = process.pid()
    assert old_pid is not None
    before = read_restarts(sandbox.settings.run_dir).get(process.name)
    process.kill_hard()
    eventually(lambda: process.pid() not in (None, old_pid) and answers(), f"{process.name} restarted and answering")
    record = read_restarts(sandbox.settings.run_dir)[process.name]
    # At least one restart: on a loaded machine a restarted component that is slow to come up may be restarted again.
    assert record.count >= (before.count if before else 0) + 1 and record.last_exit
    return record.count


def test_a_killed_gateway_comes_back_and_status_shows_it(supervised: Sandbox) -> None:
    network, settings = supervised.network, supervised.settings
    assert network.supervisor.pid() is not None
    _kill_and_wait_back(supervised, network.gateway, lambda: int(rpc(settings.gateway_url, "eth_chainId")["result"], 16) == settings.chain_id)
    output = CliRunner().invoke(app, ["network", "status", "--data-dir", str(settings.root)]).output
    assert "restarted 1x by the supervisor" in output
    log = (settings.log_dir / "supervisor.log").read_text()
    assert "gateway is down" in log and "gateway restarted as pid" in log


def test_a_killed_ipfs_node_and_chain_node_come_back_with_their_data(supervised: Sandbox) -> None:
    network, settings = supervised.network, supervised.settings
    height = supervised.w3.eth.block_number
    _kill_and_wait_back(supervised, network.chain, lambda: supervised.operator_w3.eth.block_number >= height)
    from network.ipfs_client import IpfsClient

    ipfs = IpfsClient(settings.ipfs_url)
    cid = ipfs.add(b"supervised payload")
    _kill_and_wait_back(supervised, network.ipfs, lambda: ipfs.cat(cid) == b"supervised payload")
    assert supervised.w3.eth.block_number >= height


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_seconds(streak) for streak in range(8)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_down_stops_the_supervisor_first_so_nothing_comes_back(tmp_path: Path) -> None:
    with sandbox_network(tmp_path, "healthsilk-test/supervised-down", engine="anvil", supervise=True) as sandbox:
        network = sandbox.network
        assert network.supervisor.pid() is not None
        stopped = network.down()
        assert stopped[0] == "supervisor" and set(stopped) == {"supervisor", "gateway", "ipfs", "anvil"}
        time.sleep(1.0)  # several supervisor polls, had it survived
        assert all(process.pid() is None for process in network.components)
