"""Compile the project's Solidity sources into reproducible JSON artifacts.

The compiler is the npm build of solc behind ``contracts/compiler/solc`` (a native-solc-compatible
command line); ``install_solc`` registers it with py-solc-x as ``solc-v0.8.30`` so py-solc-x and
brownie find it without downloading anything.

CLI::

    python -m ledger.compile install        # register the solc shim with py-solc-x
    python -m ledger.compile build [--force] # compile contracts/**/*.sol -> artifacts/
"""

from __future__ import annotations

import argparse
import copy
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLC_VERSION = "0.8.30"
SHIM = REPO_ROOT / "contracts" / "compiler" / "solc"
DEFAULT_SOLCX_DIR = REPO_ROOT / ".tools" / "solcx"
SOLCX_ENV = "SOLCX_BINARY_PATH"
# First line of the wrapper we install, to tell it apart from a native solc put there by hand.
_MARKER = "# Installed by `python -m ledger.compile install`"

CONTRACTS_DIR = "contracts"
ARTIFACTS_DIR = "artifacts"
MANIFEST_NAME = "_manifest.json"
# Lives inside contracts/ but holds the toolchain, not sources.
EXCLUDED_DIRS = ("contracts/compiler",)

# Everything that influences bytecode is fixed here; it is also recorded in the manifest so a
# change forces a rebuild.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "viaIR": False,
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.methodIdentifiers",
                "metadata",
            ]
        }
    },
}

_NAME_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
log = logging.getLogger(__name__)


class CompileError(RuntimeError):
    """Compilation failed or the sources are unusable; the message is meant for humans."""


class Artifact(TypedDict):
    contractName: str
    sourceName: str
    # "contract", "abstract", "interface" or "library": interfaces and abstract contracts are
    # kept for their ABI but have empty bytecode.
    kind: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployedBytecode: str
    methodIdentifiers: dict[str, str]
    metadata: str
    compiler: dict[str, str]


# --------------------------------------------------------------------------- compiler install


def solcx_dir() -> Path:
    """Where py-solc-x looks for compilers; also exports it so py-solc-x agrees with us."""
    configured = os.environ.get(SOLCX_ENV)
    path = Path(configured).resolve() if configured else DEFAULT_SOLCX_DIR
    os.environ[SOLCX_ENV] = str(path)
    return path


def _wrapper_script() -> str:
    # A script (not a symlink) so a copy of it still works; it pins the shim by absolute path.
    return (
        "#!/usr/bin/env bash\n"
        f"{_MARKER}: solc for py-solc-x / brownie.\n"
        f"exec {shlex.quote(str(SHIM))} \"$@\"\n"
    )


def install_solc() -> Path:
    """Register the solc shim with py-solc-x as ``solc-v{SOLC_VERSION}`` and verify it runs.

    Idempotent. Replaces whatever file has that name (an explicit install is a decision).
    """
    import solcx
    from solcx.exceptions import SolcError

    target_dir = solcx_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"solc-v{SOLC_VERSION}"
    script = _wrapper_script()
    if target.is_symlink() or not target.exists() or target.read_bytes() != script.encode():
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".solc-")
        with os.fdopen(fd, "w") as fh:
            fh.write(script)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    try:
        found = solcx.wrapper.get_solc_version(target)
    except (OSError, subprocess.SubprocessError, SolcError) as exc:
        raise CompileError(f"{target} does not run: {exc}") from exc
    if str(found) != SOLC_VERSION:
        raise CompileError(
            f"{SHIM} reports solc {found}, expected {SOLC_VERSION}: is node_modules/solc the "
            "pinned version? (npm ci)"
        )
    return target


def _ensure_solc() -> None:
    """Install the shim if missing, or refresh our wrapper if it points at another checkout.

    A native solc 0.8.30 put there by hand is left alone (same version, identical bytecode).
    """
    target = solcx_dir() / f"solc-v{SOLC_VERSION}"
    if not target.exists():
        install_solc()
        return
    try:
        head = target.read_bytes()[:512].decode("utf-8", "replace")
    except OSError:
        return
    if _MARKER in head and target.read_bytes() != _wrapper_script().encode():
        install_solc()


_compiler_version_cache: dict[str, str] = {}


def compiler_version() -> str:
    """Full version with commit, e.g. ``0.8.30+commit.73712a01`` (as recorded in metadata)."""
    import solcx

    _ensure_solc()
    exe = str(solcx.install.get_executable(SOLC_VERSION))
    if exe not in _compiler_version_cache:
        version = solcx.wrapper.get_solc_version(exe, with_commit_hash=True)
        _compiler_version_cache[exe] = str(version)
    return _compiler_version_cache[exe]


# --------------------------------------------------------------------------- sources


def _project_sources(root: Path) -> dict[str, str]:
    """``{source unit name: content}`` for contracts/**/*.sol, names relative to ``root``."""
    contracts = root / CONTRACTS_DIR
    sources: dict[str, str] = {}
    for path in sorted(contracts.rglob("*.sol")):
        name = path.relative_to(root).as_posix()
        if any(name == d or name.startswith(d + "/") for d in EXCLUDED_DIRS):
            continue
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def _sha256(data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def _allow_paths(root: Path) -> list[str]:
    # node_modules may be a symlink (e.g. in a scratch copy); solc checks resolved paths.
    paths = [root.resolve()]
    node_modules = root / "node_modules"
    if node_modules.exists():
        paths.append(node_modules.resolve())
    return [p.as_posix() for p in paths]


# --------------------------------------------------------------------------- compile


def _format_diagnostics(errors: list[dict[str, Any]], severity: str) -> str:
    return "\n".join(
        e.get("formattedMessage") or e.get("message", "")
        for e in errors
        if e.get("severity") == severity
    ).rstrip()


def _input_json(sources: dict[str, str]) -> dict[str, Any]:
    settings = copy.deepcopy(SETTINGS)
    # The AST is requested only for our own files, to label contract kinds; output selection is
    # not part of the metadata, so it does not change the bytecode.
    for name in sources:
        settings["outputSelection"][name] = {"": ["ast"]}
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": settings,
    }


def _run_solc(root: Path, sources: dict[str, str]) -> dict[str, Any]:
    import solcx
    from solcx.exceptions import SolcError

    _ensure_solc()
    input_json = _input_json(sources)
    try:
        output: dict[str, Any] = solcx.compile_standard(
            input_json,
            base_path=root.resolve().as_posix(),
            allow_paths=_allow_paths(root),
            solc_version=SOLC_VERSION,
        )
    except SolcError as exc:
        if exc.error_dict:
            raise CompileError(_format_diagnostics(exc.error_dict, "error")) from None
        raise CompileError(
            f"solc failed (exit {exc.return_code}): {(exc.stderr_data or exc.message).strip()}"
        ) from None
    warnings = _format_diagnostics(output.get("errors", []), "warning")
    if warnings:
        log.warning("%s", warnings)
    return output


def _contract_kinds(output: dict[str, Any], source_name: str) -> dict[str, str]:
    """``{contract name: kind}`` for one source file, from solc's AST."""
    kinds: dict[str, str] = {}
    ast = output.get("sources", {}).get(source_name, {}).get("ast", {})
    for node in ast.get("nodes", []):
        if node.get("nodeType") == "ContractDefinition":
            kind = node.get("contractKind", "contract")
            kinds[node["name"]] = "abstract" if node.get("abstract") else kind
    return kinds


def _build_artifacts(
    output: dict[str, Any], sources: dict[str, str], version: str
) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    origins: dict[str, list[str]] = {}
    for source_name in sorted(sources):
        kinds = _contract_kinds(output, source_name)
        for name, data in sorted(output.get("contracts", {}).get(source_name, {}).items()):
            origins.setdefault(name, []).append(source_name)
            evm = data.get("evm", {})
            bytecode = evm.get("bytecode", {}).get("object", "")
            deployed = evm.get("deployedBytecode", {}).get("object", "")
            artifacts[name] = Artifact(
                contractName=name,
                sourceName=source_name,
                kind=kinds.get(name, "contract"),
                abi=data.get("abi", []),
                bytecode=f"0x{bytecode}",
                deployedBytecode=f"0x{deployed}",
                methodIdentifiers=data.get("evm", {}).get("methodIdentifiers", {}),
                metadata=data.get("metadata", ""),
                compiler={"name": "solc", "version": version},
            )
    duplicates = {n: files for n, files in origins.items() if len(files) > 1}
    if duplicates:
        lines = [f"  {n}: {', '.join(files)}" for n, files in sorted(duplicates.items())]
        raise CompileError(
            "contract names must be unique across contracts/ (artifacts are keyed by name):\n"
            + "\n".join(lines)
        )
    return artifacts


def _dump(obj: Any) -> str:
    # Fixed formatting so the same input always gives the same bytes.
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _manifest(
    root: Path, sources: dict[str, str], output: dict[str, Any], version: str, names: list[str]
) -> dict[str, Any]:
    # Hash imported files too (e.g. OpenZeppelin): upgrading node_modules must trigger a rebuild.
    hashes = {name: _sha256(text) for name, text in sources.items()}
    for name in output.get("sources", {}):
        if name not in hashes:
            hashes[name] = _sha256((root / name).read_bytes())
    return {
        "artifacts": sorted(names),
        "compiler": version,
        "settings": SETTINGS,
        "sources": dict(sorted(hashes.items())),
    }


@contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    # Several test processes may build at once; one compiles, the others then see it fresh.
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def compile_all(root: Path = REPO_ROOT) -> dict[str, Artifact]:
    """Compile ``root/contracts/**/*.sol`` and (re)write ``root/artifacts``.

    Always compiles; ``ensure_built`` is the cached entry point. Nothing is written unless the
    whole compilation succeeds and contract names are unique.
    """
    root = Path(root)
    out_dir = root / ARTIFACTS_DIR
    with _build_lock(out_dir):
        return _compile_locked(root, out_dir)


def _compile_locked(root: Path, out_dir: Path) -> dict[str, Artifact]:
    sources = _project_sources(root)
    version = compiler_version()
    output = _run_solc(root, sources) if sources else {}
    artifacts = _build_artifacts(output, sources, version)
    manifest = _manifest(root, sources, output, version, list(artifacts))

    previous = _read_manifest(out_dir)
    for name, artifact in artifacts.items():
        _write_atomic(out_dir / f"{name}.json", _dump(artifact))
    for stale in set(previous.get("artifacts", [])) - set(artifacts):
        if _NAME_RE.match(str(stale)):
            (out_dir / f"{stale}.json").unlink(missing_ok=True)
    # Written last: an interrupted build leaves a stale manifest and is redone next time.
    _write_atomic(out_dir / MANIFEST_NAME, _dump(manifest))
    return artifacts


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_up_to_date(root: Path = REPO_ROOT) -> bool:
    """True when artifacts/ matches the current sources, imports, settings and compiler."""
    root = Path(root)
    out_dir = root / ARTIFACTS_DIR
    manifest = _read_manifest(out_dir)
    if not manifest or manifest.get("settings") != SETTINGS:
        return False
    recorded: dict[str, str] = manifest.get("sources", {})
    project = _project_sources(root)
    recorded_project = {n for n in recorded if n.startswith(CONTRACTS_DIR + "/")}
    if set(project) != recorded_project:
        return False
    for name, digest in recorded.items():
        if name in project:
            if _sha256(project[name]) != digest:
                return False
        else:
            try:
                if _sha256((root / name).read_bytes()) != digest:
                    return False
            except OSError:
                return False
    if any(not (out_dir / f"{n}.json").is_file() for n in manifest.get("artifacts", [])):
        return False
    return manifest.get("compiler") == compiler_version()


def ensure_built(root: Path = REPO_ROOT, force: bool = False) -> bool:
    """Compile only if artifacts are missing or stale. Returns True when it compiled."""
    root = Path(root)
    with _build_lock(root / ARTIFACTS_DIR):
        if not force and is_up_to_date(root):
            return False
        _compile_locked(root, root / ARTIFACTS_DIR)
        return True


def load_artifact(name: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The artifact of contract ``name`` (see ``Artifact``) from ``root/artifacts``."""
    if not _NAME_RE.match(name):
        raise ValueError(f"not a contract name: {name!r}")
    path = Path(root) / ARTIFACTS_DIR / f"{name}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no artifact for contract {name!r} at {path}; run `python -m ledger.compile build`"
        ) from None
    return data


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger.compile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="register the solc shim with py-solc-x")
    build = sub.add_parser("build", help="compile contracts/ into artifacts/ (no-op if fresh)")
    build.add_argument("--force", action="store_true", help="compile even if up to date")
    build.add_argument("--root", type=Path, default=REPO_ROOT, help="project root")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING, stream=sys.stderr)

    try:
        if args.command == "install":
            target = install_solc()
            print(f"solc {compiler_version()} -> {target}")
            return 0
        started = time.monotonic()
        if ensure_built(args.root, force=args.force):
            count = len(_read_manifest(args.root / ARTIFACTS_DIR).get("artifacts", []))
            print(f"compiled {count} contracts in {time.monotonic() - started:.1f}s "
                  f"-> {args.root / ARTIFACTS_DIR}")
        else:
            print("artifacts up to date")
        return 0
    except CompileError as exc:
        print(f"compilation failed:\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
