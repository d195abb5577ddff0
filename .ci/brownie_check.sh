#!/usr/bin/env bash
# Check that `brownie compile` works on the project, offline, with our solc 0.8.30 shim.
#
# brownie pins old web3/pytest/hypothesis, so it lives in its own venv (.tools/brownie-venv),
# never in the application's .venv. brownie gets a private HOME (its data folder ~/.brownie,
# network list and packages live there) and a dead proxy, so it can neither download a solc nor
# reach anything but loopback.
#
# Usage: .ci/brownie_check.sh [PROJECT_DIR]   (default: the repository; a scratch copy works too)
# Env:   PYTHON (python3.11), BROWNIE_VERSION (1.22.2), SOLCX_BINARY_PATH (.tools/solcx)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$(cd "${1:-$repo}" && pwd)"
tools="$repo/.tools"
venv="$tools/brownie-venv"
brownie_version="${BROWNIE_VERSION:-1.22.2}"
python="${PYTHON:-python3.11}"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# 1. Tool venv (the only step that uses the network: PyPI).
if ! "$venv/bin/python" -c "import brownie" >/dev/null 2>&1 \
    || [ "$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("eth-brownie"))')" != "$brownie_version" ]; then
  t0="$(now)"
  echo "brownie_check: installing eth-brownie==$brownie_version into $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "eth-brownie==$brownie_version"
  echo "brownie_check: brownie install took $(elapsed "$t0")"
fi

# 2. Register the solc shim with py-solc-x (same code path as the application).
export SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH:-$tools/solcx}"
app_python="$repo/.venv/bin/python"
[ -x "$app_python" ] || app_python="$venv/bin/python"  # ledger.compile needs only py-solc-x
(cd "$repo" && PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$app_python" -m ledger.compile install)

# 3. Run brownie offline, isolated from the user's ~/.brownie.
brownie_home="$tools/brownie-home"
mkdir -p "$brownie_home"
run_brownie() {
  HOME="$brownie_home" \
  http_proxy="http://127.0.0.1:9" https_proxy="http://127.0.0.1:9" \
  HTTP_PROXY="http://127.0.0.1:9" HTTPS_PROXY="http://127.0.0.1:9" \
  no_proxy="127.0.0.1,localhost" NO_PROXY="127.0.0.1,localhost" \
  "$venv/bin/brownie" "$@"
}

networks="$(cd "$project" && run_brownie networks list)"
if ! grep -q "healthsilk-local" <<<"$networks"; then
  (cd "$project" && run_brownie networks add Healthsilk healthsilk-local \
    host=http://127.0.0.1:8545 chainid=7331) >/dev/null
fi

t0="$(now)"
set +e
output="$(cd "$project" && run_brownie compile --all 2>&1)"
status=$?
set -e
printf '%s\n' "$output"
# brownie prints compiler errors but has exited 0 in some versions: check the text as well.
if [ "$status" -ne 0 ] || grep -qE "CompilerError|SolcError|Traceback" <<<"$output"; then
  echo "brownie_check: FAILED (brownie compile exit $status)" >&2
  exit 1
fi
echo "brownie_check: OK, brownie compile took $(elapsed "$t0") in $project"
