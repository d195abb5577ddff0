"""brownie's view of the project stays usable: a config brownie 1.22 can load, a scripts folder of real brownie
scripts (each with main(), importing nothing from the application, whose web3 differs from brownie's), and a CI
check that runs every one of them.

brownie itself runs in .ci/brownie_check.sh (its own venv, against a sandbox network it starts); these are the
checks that need no brownie, so they fail here first when someone breaks what that check relies on.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_PACKAGES = {"api", "bench", "crypto", "ledger", "migrations", "network", "tests", "wallet"}


def _config() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "brownie-config.yaml").read_text()))


def _scripts_folder() -> Path:
    return ROOT / _config()["project_structure"]["scripts"]


def _scripts() -> list[Path]:
    """What `brownie run` is meant for (modules starting with _ are shared helpers)."""
    return sorted(path for path in _scripts_folder().glob("*.py") if not path.name.startswith("_"))


def _imported_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_config_loads_in_brownie_and_points_at_brownie_scripts() -> None:
    config = _config()
    # brownie 1.22 (mypyc-compiled) crashes with "dict object expected; got str" on any other value here,
    # e.g. `networks: default: healthsilk-local`.
    networks = config.get("networks") or {}
    assert {name: value for name, value in networks.items() if not isinstance(value, dict)} == {}
    assert _scripts_folder().is_dir() and _scripts_folder() != ROOT / "migrations"


def test_every_script_has_main_and_imports_no_application_code() -> None:
    scripts = _scripts()
    assert {path.stem for path in scripts} >= {"deploy", "status", "member_tx"}
    for path in sorted(_scripts_folder().glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        assert _imported_roots(tree) & APPLICATION_PACKAGES == set(), f"{path.name} imports the application (brownie's venv has another web3)"
        if path in scripts:
            assert any(isinstance(node, ast.FunctionDef) and node.name == "main" and not node.args.args for node in tree.body), f"{path.name} has no main()"


def test_the_migration_runner_of_deploy_names_what_the_application_has() -> None:
    """deploy.py hands the application's Python a snippet: every name it imports must exist there."""
    tree = ast.parse((_scripts_folder() / "deploy.py").read_text())
    snippet = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_MIGRATE" for t in node.targets) and isinstance(node.value, ast.Constant)
    )
    imports = [node for node in ast.walk(ast.parse(snippet)) if isinstance(node, ast.ImportFrom)]
    assert {node.module for node in imports} >= {"migrations", "network.operator"}
    for node in imports:
        module = importlib.import_module(str(node.module))
        assert [alias.name for alias in node.names if not hasattr(module, alias.name)] == [], f"{node.module} lacks a name deploy.py imports"


def test_ci_runs_every_script_and_the_console_against_a_sandbox() -> None:
    check = (ROOT / ".ci" / "brownie_check.sh").read_text()
    missing = [path.name for path in _scripts() if f"run scripts/{path.name}" not in check]
    assert missing == [], f"scripts that .ci/brownie_check.sh never runs: {missing}"
    assert ".ci/brownie_sandbox.py" in check and "brownie console --network healthsilk-sandbox" in check
    assert (ROOT / ".ci" / "brownie_sandbox.py").exists()
