#!/usr/bin/env bash
# Build the pinned chain and IPFS engines into .tools/bin (once; later runs only check the versions).
#
# Each engine is a tiny Go module here that requires the pinned upstream release as a tool, so
# `go build` resolves exactly the versions in go.sum (Kubo's own go.mod has exclude directives,
# which `go install pkg@version` refuses). The Go build cache makes a rebuild after a clean take seconds.
# Usage: network/engines/build.sh [geth|ipfs|ipfs-cluster-service|ipfs-cluster-ctl ...]   (default: geth ipfs)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(cd "$here/../.." && pwd)/.tools/bin"
mkdir -p "$bin"

# name  module-dir  package  version-check-substring
declare -A dir=([geth]=geth [ipfs]=kubo [ipfs-cluster-service]=cluster [ipfs-cluster-ctl]=cluster)
declare -A pkg=(
  [geth]=github.com/ethereum/go-ethereum/cmd/geth
  [ipfs]=github.com/ipfs/kubo/cmd/ipfs
  [ipfs-cluster-service]=github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-service
  [ipfs-cluster-ctl]=github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl
)

pinned() { # the version go.mod pins for the engine's upstream module
  local module="${pkg[$1]%/cmd/*}"
  awk -v m="$module" '$1 == m { print $2 }' "$here/${dir[$1]}/go.mod"
}

for name in "${@:-geth ipfs}"; do
  for engine in $name; do
    version="$(pinned "$engine")"
    stamp="$bin/.$engine.version"
    if [ -x "$bin/$engine" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
      continue
    fi
    echo "engines: building $engine $version (first build takes several minutes; the Go build cache is reused)"
    started=$(date +%s)
    (cd "$here/${dir[$engine]}" && go build -o "$bin/$engine.tmp" "${pkg[$engine]}")
    mv "$bin/$engine.tmp" "$bin/$engine"
    echo "$version" > "$stamp"
    echo "engines: $engine $version built in $(( $(date +%s) - started ))s -> $bin/$engine"
  done
done
