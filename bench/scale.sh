#!/usr/bin/env bash
# Measure ecsauthz startup-to-SERVING time and resident memory with a large
# file policy store: 10,000 users, 10,000 policies and 100,000 grants by
# default (genstore's flags), generated into a temporary directory that is
# removed afterwards.
#
# Usage: bench/scale.sh [OUT_DIR]
#   RUNS=3  MIX=<CheckRequest dir for the burst after SERVING>
#   GENSTORE_ARGS="-users 10000 -policies 10000 -grants 100000 -format json"
#       (the resource documents are JSON by default; -format yaml writes YAML)
#   PIN_CPU=<cpu>  pins the server to one CPU (default: unpinned)
#
# Prints one JSON line per run (see bench/cmd/startup) and appends it to
# OUT_DIR/scale.jsonl when OUT_DIR is given. The server listens on
# 127.0.0.1 only and is stopped by its PID after each run.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$bench_dir")
out_dir=${1:-}
RUNS=${RUNS:-3}
GENSTORE_ARGS=${GENSTORE_ARGS:-}
PIN_CPU=${PIN_CPU:-}
bin=$bench_dir/bin
addr=127.0.0.1:19191
http_addr=127.0.0.1:19192

if [[ -z ${MIX:-} ]]; then
	if compgen -G "$repo_dir/examples/checkrequests/*.json" >/dev/null; then
		MIX=$repo_dir/examples/checkrequests
	else
		MIX=$bench_dir/testdata/mix
	fi
fi

(cd "$repo_dir" && go build -o "$bin/ecsauthz" ./cmd/ecsauthz)
(cd "$bench_dir" && go build -o "$bin/" ./cmd/genstore ./cmd/startup)

if [[ -n $out_dir ]]; then
	mkdir -p "$out_dir"
fi
store=$(mktemp -d /tmp/ecsauthz-scale.XXXXXX)
trap 'rm -rf "$store"' EXIT
# shellcheck disable=SC2086 # GENSTORE_ARGS is a list of flags.
"$bin/genstore" -out "$store" $GENSTORE_ARGS
echo "store: $store ($(find "$store" -type f | wc -l) files, $(du -sh "$store" | cut -f1))" >&2

pin=()
if [[ -n $PIN_CPU ]]; then
	pin=(taskset -c "$PIN_CPU")
fi

for run in $(seq "$RUNS"); do
	# The server runs from the repository root so that relative default
	# paths (the example JWKS) resolve.
	line=$(cd "$repo_dir" && "$bin/startup" -addr "$addr" -requests "$MIX" -count 20000 -- \
		"${pin[@]}" "$bin/ecsauthz" serve -grpc-address "$addr" -http-address "$http_addr" \
		-store-backend file -store-dir "$store" -log-level warn)
	echo "run $run: $line"
	if [[ -n $out_dir ]]; then
		echo "$line" >>"$out_dir/scale.jsonl"
	fi
done
