#!/usr/bin/env bash
# Check that brownie works on the project, offline: `brownie compile` with our solc 0.8.30 shim, then
# `brownie run` of every script in scripts/ and `brownie console` against a sandbox geth network that this
# script starts (.ci/brownie_sandbox.py) and stops (by that helper's PID) itself.
#
# brownie pins old web3/pytest/hypothesis, so it lives in its own venv, never in the application's .venv.
# brownie gets a private HOME (its data folder ~/.brownie, network list and packages live there) and a dead
# proxy, so it can neither download a solc nor reach anything but loopback.
#
# Kept between runs on this machine, outside the clone (CI checks out a fresh clone each time), in
# $HEALTHSILK_TOOL_CACHE (default ~/.cache/healthsilk):
#   brownie-<version>-<py>/        the venv; reused as long as it imports brownie of the pinned version
#   wheels/brownie-<version>-<py>/ every wheel it needs; a lost venv is rebuilt from them without PyPI
#   brownie-build/<key>/           brownie's build artifacts; `brownie compile` then recompiles only the
#                                  contracts whose sources changed (key: brownie-config.yaml, package-lock.json)
# .tools/brownie-venv links to the venv, for people who run brownie by hand.
#
# Usage: .ci/brownie_check.sh [PROJECT_DIR]   (default: the repository; a scratch copy works too)
# Env:   PYTHON (python3.11), BROWNIE_VERSION (1.22.2), SOLCX_BINARY_PATH (.tools/solcx),
#        HEALTHSILK_TOOL_CACHE, BROWNIE_COMPILE_ALL=1 (recompile everything)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$(cd "${1:-$repo}" && pwd)"
tools="$repo/.tools"
brownie_version="${BROWNIE_VERSION:-1.22.2}"
python="${PYTHON:-python3.11}"
cache="${HEALTHSILK_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/healthsilk}"
py_tag="$("$python" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')"
venv="$cache/brownie-$brownie_version-$py_tag"
wheels="$cache/wheels/brownie-$brownie_version-$py_tag"
mkdir -p "$cache" "$tools"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
started="$(now)"
timings=()

# 1. Tool venv. Only building the wheel set uses the network (PyPI); the lock keeps concurrent checks apart.
venv_ok() {
  [ "$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("eth-brownie"))' 2>/dev/null)" = "$brownie_version" ]
}
t0="$(now)"
if ! venv_ok; then
  exec 9>"$cache/brownie.lock"
  flock 9
  if ! venv_ok; then
    if [ ! -f "$wheels/.complete" ]; then
      echo "brownie_check: fetching the wheels of eth-brownie==$brownie_version into $wheels"
      mkdir -p "$wheels"
      "$python" -m pip wheel --quiet --disable-pip-version-check -w "$wheels" "eth-brownie==$brownie_version"
      touch "$wheels/.complete"
    fi
    echo "brownie_check: installing eth-brownie==$brownie_version into $venv (from the cached wheels, no index)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-index --find-links "$wheels" "eth-brownie==$brownie_version"
  fi
  flock -u 9
fi
timings+=("venv $(elapsed "$t0")")
# A stable path for people (the old layout kept a real venv there; the cache replaces it).
if [ ! -L "$tools/brownie-venv" ] || [ "$(readlink "$tools/brownie-venv")" != "$venv" ]; then
  rm -rf "$tools/brownie-venv"
  ln -s "$venv" "$tools/brownie-venv"
fi

# 2. Register the solc shim with py-solc-x (same code path as the application).
export SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH:-$tools/solcx}"
app_python="$repo/.venv/bin/python"
[ -x "$app_python" ] || { echo "brownie_check: $app_python is missing: run \`make install\` first" >&2; exit 1; }
(cd "$repo" && PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$app_python" -m ledger.compile install)

# 3. brownie, offline, with a HOME of its own for this run (its network list then holds only the sandbox).
scratch="$(mktemp -d "${TMPDIR:-/tmp}/brownie-check.XXXXXX")"
sandbox_pid=""
cleanup() {
  if [ -n "$sandbox_pid" ] && kill -0 "$sandbox_pid" 2>/dev/null; then
    kill -TERM "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch/home"
run_brownie() {
  (cd "$project" && HOME="$scratch/home" \
    http_proxy="http://127.0.0.1:9" https_proxy="http://127.0.0.1:9" \
    HTTP_PROXY="http://127.0.0.1:9" HTTPS_PROXY="http://127.0.0.1:9" \
    no_proxy="127.0.0.1,localhost" NO_PROXY="127.0.0.1,localhost" \
    HEALTHSILK_PYTHON="$app_python" \
    "$venv/bin/brownie" "$@")
}
fail() { echo "brownie_check: FAILED: $1" >&2; exit 1; }
# brownie prints errors but has exited 0 in some versions: check the text as well.
check_output() { # <what> <status> <output> [required text...]
  local what="$1" status="$2" output="$3"
  shift 3
  printf '%s\n' "$output"
  if [ "$status" -ne 0 ] || grep -qE "CompilerError|SolcError|Traceback|healthsilk: " <<<"$output"; then
    fail "$what (exit $status)"
  fi
  for wanted in "$@"; do
    grep -qF -- "$wanted" <<<"$output" || fail "$what: the output lacks \"$wanted\""
  done
}

# 4. Compile: restore the cached build, let brownie recompile what changed, save the build back.
key="$(cat "$project/brownie-config.yaml" "$project/package-lock.json" <(echo "$brownie_version") | sha256sum | cut -c1-16)"
build_cache="$cache/brownie-build"
if [ -d "$build_cache/$key/contracts" ] && [ ! -d "$project/build/contracts" ]; then
  mkdir -p "$project/build"
  cp -a "$build_cache/$key/." "$project/build/"
  echo "brownie_check: restored brownie's build artifacts from $build_cache/$key"
fi
compile_args=()
[ "${BROWNIE_COMPILE_ALL:-0}" = 1 ] && compile_args=(--all)
t0="$(now)"
set +e
output="$(run_brownie compile "${compile_args[@]}" 2>&1)"
status=$?
set -e
check_output "brownie compile" "$status" "$output" "Project has been compiled"
timings+=("compile $(elapsed "$t0")")
if [ -d "$project/build/contracts" ]; then
  rm -rf "$build_cache/$key.tmp.$$" && mkdir -p "$build_cache/$key.tmp.$$"
  cp -a "$project/build/contracts" "$project/build/interfaces" "$build_cache/$key.tmp.$$/" 2>/dev/null || true
  find "$build_cache" -mindepth 1 -maxdepth 1 ! -name "$key.tmp.$$" -exec rm -rf {} +  # one build kept
  mv -T "$build_cache/$key.tmp.$$" "$build_cache/$key" 2>/dev/null || rm -rf "$build_cache/$key.tmp.$$"  # a concurrent check won
fi

# brownie names a script's module after its whole path, so a folder with a dot in its name (mktemp's tmp.XXXX)
# breaks `brownie run` ("No module named 'tmp.tmp'"). Compile is checked above; say so and stop there.
if [[ "$project" == *.* ]]; then
  echo "brownie_check: OK (compile only) in $(elapsed "$started"): brownie cannot run scripts from $project, whose path has a dot"
  exit 0
fi

# 5. A sandbox network: throwaway geth + gateway + Kubo on free ports, stopped by the trap above.
t0="$(now)"
info="$scratch/sandbox.json"
(cd "$repo" && PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$app_python" .ci/brownie_sandbox.py "$info") >"$scratch/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 600); do
  [ -f "$info" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$scratch/sandbox.log" >&2; fail "the sandbox network did not start"; }
  sleep 0.2
done
[ -f "$info" ] || { cat "$scratch/sandbox.log" >&2; fail "the sandbox network was not ready within 120s"; }
field() { "$app_python" -c 'import json, sys; value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]: value = value[int(key) if key.isdigit() else key]
print(value)' "$info" "$@"; }
export HEALTHSILK_DATA_DIR="$(field data_dir)"
run_brownie networks add Healthsilk healthsilk-sandbox host="$(field gateway_url)" chainid="$(field chain_id)" >/dev/null
timings+=("sandbox $(elapsed "$t0")")

# 6. Every script: deploy (the migrations, idempotent), a member's transaction and a stranger's refusal, a
#    2-of-3 admission voted by two governors, and the status that shows the admitted member.
t0="$(now)"
net=(--network healthsilk-sandbox)
as_governor() { HEALTHSILK_MEMBER_KEY="$(field governor_keys "$1")" HEALTHSILK_MEMBER_PASSWORD="$(field password)" run_brownie "${@:2}" 2>&1; }
set +e
output="$(run_brownie run scripts/deploy.py "${net[@]}" 2>&1)"; status=$?
check_output "brownie run deploy" "$status" "$output" "migrations: " "ConsortiumRegistry"
output="$(as_governor 0 run scripts/member_tx.py "${net[@]}")"; status=$?
check_output "brownie run member_tx" "$status" "$output" "member's transaction" "is not a consortium member"
output="$(as_governor 0 run scripts/member_tx.py propose "$(field applicant_key)" "Brownie Check Clinic" KZ PROVIDER "${net[@]}")"; status=$?
check_output "brownie run member_tx propose" "$status" "$output" "waiting for 1 more approval"
proposal="$(grep -oE 'proposal [0-9]+: admit' <<<"$output" | grep -oE '[0-9]+' | head -1)"
output="$(as_governor 1 run scripts/member_tx.py approve "$proposal" "${net[@]}")"; status=$?
check_output "brownie run member_tx approve" "$status" "$output" "executed"
output="$(run_brownie run scripts/status.py "${net[@]}" 2>&1)"; status=$?
check_output "brownie run status" "$status" "$output" "$(field applicant_address)  active" "quorum 2"
set -e
timings+=("scripts $(elapsed "$t0")")

# 7. The console, typed into through a pseudo-terminal (brownie's prompt needs one): read a contract.
t0="$(now)"
printf '%s\n' 'from scripts.status import deployed' 'registry = deployed()["ConsortiumRegistry"]' \
  'print("console-check", chain.id, registry.memberCount())' 'exit()' >"$scratch/console.in"
set +e
output="$(cd "$project" && HOME="$scratch/home" HEALTHSILK_PYTHON="$app_python" timeout 120 \
  script -qfec "$venv/bin/brownie console --network healthsilk-sandbox" /dev/null <"$scratch/console.in" 2>&1 | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g')"
status=$?
set -e
printf '%s\n' "$output" | grep -E "^console-check|Error" || true
grep -qE "^console-check $(field chain_id) 4$" <<<"$output" || fail "brownie console (exit $status) did not read the registry"
timings+=("console $(elapsed "$t0")")

echo "brownie_check: OK in $(elapsed "$started") ($(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')) in $project"
