"""The offline Solidity toolchain: the solc shim, its py-solc-x registration, ledger.compile.

Everything compiles fixture contracts in a temporary project root (with node_modules linked in),
so these tests do not depend on the state of the repository's own contracts/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import solcx
from packaging.version import Version
from solcx.exceptions import UnknownOption

from ledger import compile as lc

REPO = lc.REPO_ROOT
NODE_MODULES = REPO / "node_modules"

GREETER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IGreeter} from "./interfaces/IGreeter.sol";
import {Greetings} from "./libraries/Greetings.sol";

/// @notice Fixture contract with an OpenZeppelin import.
contract Greeter is IGreeter, Ownable {
    string private _greeting;

    constructor(string memory greeting_) Ownable(msg.sender) {
        _greeting = greeting_;
    }

    /// @inheritdoc IGreeter
    function greet() external view returns (string memory) {
        return Greetings.decorate(_greeting);
    }
}
"""

IGREETER = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Fixture interface.
interface IGreeter {
    /// @notice The greeting.
    function greet() external view returns (string memory);
}
"""

GREETINGS = """// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Fixture library (internal only) and abstract contract.
library Greetings {
    function decorate(string memory s) internal pure returns (string memory) {
        return string.concat(s, "!");
    }
}

abstract contract Greetable {
    function greet() external view virtual returns (string memory);
}
"""

OWNABLE_ONLY = {
    "language": "Solidity",
    "sources": {
        "Fixture.sol": {
            "content": (
                "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
                'import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";\n'
                "contract Fixture is Ownable { constructor() Ownable(msg.sender) {} }\n"
            )
        }
    },
    "settings": {
        "optimizer": {"enabled": True, "runs": 200},
        "evmVersion": "cancun",
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
    },
}


def _shim(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(lc.SHIM), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120
    )


def _with_remapping(remapping: str) -> dict:
    data = json.loads(json.dumps(OWNABLE_ONLY))
    data["settings"]["remappings"] = [remapping]
    return data


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project root with three fixture sources and the repository's node_modules linked in."""
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    contracts = tmp_path / "contracts"
    (contracts / "interfaces").mkdir(parents=True)
    (contracts / "libraries").mkdir()
    (contracts / "Greeter.sol").write_text(GREETER)
    (contracts / "interfaces" / "IGreeter.sol").write_text(IGREETER)
    (contracts / "libraries" / "Greetings.sol").write_text(GREETINGS)
    return tmp_path


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}


# ----------------------------------------------------------------------------- the shim


def test_version_matches_native_solc_format() -> None:
    result = _shim("--version")
    assert result.returncode == 0, result.stderr
    npm = subprocess.run(
        ["node", "-e", "console.log(require('solc').version())"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.strip()
    commit = re.search(r"\+commit\.([0-9a-f]+)", npm)
    assert commit is not None
    assert result.stdout == (
        "solc, the solidity compiler commandline interface\n"
        f"Version: 0.8.30+commit.{commit.group(1)}.Linux.g++\n"
    )


def test_unknown_flag_is_refused() -> None:
    result = _shim("--standard-json", "--no-such-flag", stdin="{}")
    assert result.returncode != 0
    assert "unrecognised option '--no-such-flag'" in result.stderr
    # py-solc-x recognises the native wording and raises its own exception type.
    with pytest.raises(UnknownOption, match="no-such-flag"):
        solcx.wrapper.solc_wrapper(solc_binary=lc.SHIM, stdin="{}", no_such_flag=True)


def test_source_files_on_command_line_are_refused(tmp_path: Path) -> None:
    (tmp_path / "A.sol").write_text("contract A {}")
    result = _shim("A.sol", "--bin", cwd=tmp_path)
    assert result.returncode != 0
    assert "--standard-json" in result.stderr


def test_standard_json_resolves_openzeppelin_via_include_path(tmp_path: Path) -> None:
    result = _shim(
        "--standard-json", "--base-path", str(tmp_path), "--include-path", str(NODE_MODULES),
        stdin=json.dumps(OWNABLE_ONLY),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"], out["errors"]
    assert out["contracts"]["Fixture.sol"]["Fixture"]["evm"]["bytecode"]["object"]
    assert "@openzeppelin/contracts/access/Ownable.sol" in out["sources"]


def test_standard_json_honours_remappings_and_allowed_paths(tmp_path: Path) -> None:
    # A symlink out of the base path is followed, but (like native solc) the real file must lie
    # inside an allowed directory.
    (tmp_path / "nm").symlink_to(NODE_MODULES)
    data = json.dumps(_with_remapping("@openzeppelin/=nm/@openzeppelin/"))

    refused = json.loads(_shim("--standard-json", "--base-path", str(tmp_path), stdin=data).stdout)
    messages = " ".join(e["message"] for e in refused["errors"])
    assert "File outside of allowed directories" in messages
    assert "contracts" not in refused or not refused["contracts"]

    allowed = _shim(
        "--standard-json", "--base-path", str(tmp_path), "--allow-paths", str(NODE_MODULES),
        stdin=data,
    )
    out = json.loads(allowed.stdout)
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"], out["errors"]
    assert "nm/@openzeppelin/contracts/access/Ownable.sol" in out["sources"]


def test_include_path_without_base_path_is_refused() -> None:
    result = _shim("--standard-json", "--include-path", str(NODE_MODULES), stdin="{}")
    assert result.returncode != 0
    assert "base path" in result.stderr


# ----------------------------------------------------------------------------- py-solc-x


def test_py_solc_x_finds_and_uses_the_installed_shim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(lc.SOLCX_ENV, str(tmp_path / "solcx"))
    target = lc.install_solc()
    assert target == tmp_path / "solcx" / "solc-v0.8.30"
    assert lc.install_solc() == target  # idempotent
    assert Version("0.8.30") in solcx.get_installed_solc_versions()
    assert solcx.wrapper.get_solc_version(target) == Version("0.8.30")

    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    out = solcx.compile_standard(
        _with_remapping("@openzeppelin/=node_modules/@openzeppelin/"),
        solc_version="0.8.30",
        base_path=tmp_path,
        allow_paths=[str(tmp_path), str(NODE_MODULES)],
    )
    assert out["contracts"]["Fixture.sol"]["Fixture"]["abi"]


# ----------------------------------------------------------------------------- ledger.compile


def test_compile_all_writes_artifacts_for_every_contract(project: Path) -> None:
    artifacts = lc.compile_all(project)
    assert sorted(artifacts) == ["Greetable", "Greeter", "Greetings", "IGreeter"]
    kinds = {name: a["kind"] for name, a in artifacts.items()}
    assert kinds == {
        "Greetable": "abstract", "Greeter": "contract", "Greetings": "library", "IGreeter": "interface",
    }

    greeter = lc.load_artifact("Greeter", root=project)
    assert set(greeter) >= {
        "contractName", "sourceName", "abi", "bytecode", "deployedBytecode", "metadata", "compiler",
    }
    assert greeter["sourceName"] == "contracts/Greeter.sol"
    assert greeter["bytecode"].startswith("0x60") and len(greeter["bytecode"]) > 1000
    assert greeter["compiler"]["version"].startswith("0.8.30+commit.")
    assert greeter["methodIdentifiers"]["greet()"] == "cfae3217"
    settings = json.loads(greeter["metadata"])["settings"]
    assert settings["evmVersion"] == "cancun"
    assert settings["optimizer"] == {"enabled": True, "runs": 200}
    # Interfaces and abstract contracts are kept for their ABI, with empty bytecode.
    assert lc.load_artifact("IGreeter", root=project)["bytecode"] == "0x"

    text = (project / "artifacts" / "Greeter.json").read_text()
    assert text.endswith("}\n") and text == json.dumps(greeter, sort_keys=True, indent=2) + "\n"

    manifest = json.loads((project / "artifacts" / "_manifest.json").read_text())
    assert manifest["artifacts"] == sorted(artifacts)
    assert "contracts/Greeter.sol" in manifest["sources"]
    # Imported OpenZeppelin files are hashed too, so upgrading them forces a rebuild.
    assert "node_modules/@openzeppelin/contracts/access/Ownable.sol" in manifest["sources"]


def test_compile_all_is_byte_identical_when_repeated(project: Path) -> None:
    lc.compile_all(project)
    first = _snapshot(project / "artifacts")
    lc.compile_all(project)
    assert _snapshot(project / "artifacts") == first
    assert "_manifest.json" in first and "Greeter.json" in first


def test_ensure_built_is_a_no_op_until_sources_change(project: Path) -> None:
    assert lc.ensure_built(project) is True
    before = _snapshot(project / "artifacts")
    assert lc.is_up_to_date(project)
    assert lc.ensure_built(project) is False
    assert _snapshot(project / "artifacts") == before

    # Any byte of a source counts, even a comment.
    greeter = project / "contracts" / "Greeter.sol"
    greeter.write_text(greeter.read_text() + "\n// edited\n")
    assert not lc.is_up_to_date(project)
    assert lc.ensure_built(project) is True

    # Removing a source removes its artifacts.
    (project / "contracts" / "libraries" / "Greetings.sol").unlink()
    greeter.write_text(
        greeter.read_text()
        .replace('import {Greetings} from "./libraries/Greetings.sol";\n', "")
        .replace("Greetings.decorate(_greeting)", "_greeting")
    )
    assert lc.ensure_built(project) is True
    assert not (project / "artifacts" / "Greetings.json").exists()
    assert not (project / "artifacts" / "Greetable.json").exists()
    assert (project / "artifacts" / "Greeter.json").exists()


def test_syntax_error_fails_clearly_and_changes_nothing(project: Path) -> None:
    lc.compile_all(project)
    before = _snapshot(project / "artifacts")
    (project / "contracts" / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Broken { function f( }\n"
    )
    with pytest.raises(lc.CompileError) as info:
        lc.compile_all(project)
    message = str(info.value)
    assert "ParserError" in message and "contracts/Broken.sol:3" in message
    assert _snapshot(project / "artifacts") == before

    cli = subprocess.run(
        [sys.executable, "-m", "ledger.compile", "build", "--root", str(project)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode != 0
    assert "ParserError" in cli.stderr and "contracts/Broken.sol" in cli.stderr


def test_duplicate_contract_names_are_refused(project: Path) -> None:
    (project / "contracts" / "Other.sol").write_text(IGREETER)  # declares IGreeter again
    with pytest.raises(lc.CompileError, match="unique") as info:
        lc.compile_all(project)
    assert "contracts/Other.sol" in str(info.value)
    assert "contracts/interfaces/IGreeter.sol" in str(info.value)
    assert not (project / "artifacts" / "Greeter.json").exists()


def test_load_artifact_rejects_bad_names_and_missing_artifacts(project: Path) -> None:
    with pytest.raises(ValueError):
        lc.load_artifact("../secrets", root=project)
    with pytest.raises(FileNotFoundError, match="ledger.compile build"):
        lc.load_artifact("Nope", root=project)


def test_compiler_directory_is_not_a_source(project: Path) -> None:
    compiler_dir = project / "contracts" / "compiler"
    compiler_dir.mkdir()
    (compiler_dir / "Stray.sol").write_text("this is not solidity")
    assert "Stray" not in lc.compile_all(project)
    assert os.environ[lc.SOLCX_ENV]  # our code path exported the py-solc-x location
