#!/usr/bin/env bash
# Count the instructions each server executes per check, with valgrind's
# callgrind tool. Other work on the machine changes instruction counts far
# less than timings (only through scheduling and garbage-collection timing),
# so they resolve differences smaller than the ~10% noise of timed runs on
# shared CPUs.
#
# Usage: bench/callgrind.sh [OUT_DIR]
#   SERVERS="noop ecsauthz rego"  CHECKS=2000  CONCURRENCY=8
#   MIX=<CheckRequest dir>  (default as in run.sh)
#
# For each server: start it under callgrind on 127.0.0.1, wait for SERVING,
# send a warmup of CHECKS/4 checks, zero the counters (callgrind_control -z),
# send CHECKS checks, dump the counters (callgrind_control -d) and stop the
# server by its PID. Instructions per check is the dump's instruction count
# divided by CHECKS. It includes gRPC, the Go runtime and garbage collection,
# and the few checks still in flight when the count is reached (at most
# CONCURRENCY - 1, so under 1% with the defaults). Under callgrind every server runs about 50
# times slower, so the Rego peer gets a quarter of CHECKS.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$bench_dir")
out_dir=${1:-$bench_dir/results/callgrind-$(date -u +%Y%m%dT%H%M%SZ)}
SERVERS=${SERVERS:-"noop ecsauthz rego"}
CHECKS=${CHECKS:-2000}
CONCURRENCY=${CONCURRENCY:-8}
bin=$bench_dir/bin
addr=127.0.0.1:19491
http_addr=127.0.0.1:19492

if [[ -z ${MIX:-} ]]; then
	if compgen -G "$repo_dir/examples/checkrequests/*.json" >/dev/null; then
		MIX=$repo_dir/examples/checkrequests
	else
		MIX=$bench_dir/testdata/mix
	fi
fi
for tool in valgrind callgrind_control; do
	if ! command -v "$tool" >/dev/null; then
		echo "callgrind.sh: $tool not found; install the valgrind package" >&2
		exit 1
	fi
done

mkdir -p "$out_dir"
if [[ " $SERVERS " == *" ecsauthz "* ]]; then
	(cd "$repo_dir" && go build -o "$bin/ecsauthz" ./cmd/ecsauthz)
fi
(cd "$bench_dir" && go build -o "$bin/" ./cmd/loadgen ./cmd/noop ./cmd/regopeer)

server_pid=""
stop_server() {
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
trap stop_server EXIT

# measure NAME CHECKS runs one server under callgrind and appends its
# instructions per check to summary.txt. It returns non-zero when the server
# does not come up or dies during the measurement.
measure() {
	local name=$1 checks=$2 command
	case $name in
	noop) command=("$bin/noop" -addr "$addr") ;;
	ecsauthz) command=("$bin/ecsauthz" serve -grpc-address "$addr" -http-address "$http_addr" -log-level warn) ;;
	rego) command=("$bin/regopeer" -addr "$addr" -jwks "$repo_dir/examples/jwks/jwks.json") ;;
	esac
	rm -f "$out_dir/$name".*.out*
	# Callgrind 3.19 aborts on the signals of Go's asynchronous preemption
	# (assertion in vgCallgrind_post_signal), so the server runs without it.
	(cd "$repo_dir" && GODEBUG=asyncpreemptoff=1 exec valgrind --tool=callgrind \
		--callgrind-out-file="$out_dir/$name.%p.out" "${command[@]}") >"$out_dir/$name.log" 2>&1 &
	server_pid=$!
	local attempt
	for attempt in $(seq 36); do
		if "$bin/loadgen" -addr "$addr" -wait 5s 2>/dev/null; then
			break
		fi
		if ! kill -0 "$server_pid" 2>/dev/null || ((attempt == 36)); then
			echo "callgrind.sh: $name did not become SERVING; see $out_dir/$name.log" >&2
			stop_server
			return 1
		fi
	done
	"$bin/loadgen" -addr "$addr" -requests "$MIX" -c "$CONCURRENCY" -warmup 0s -count "$((checks / 4))" \
		-max-duration 10m >/dev/null || { stop_server; return 1; }
	callgrind_control -z "$server_pid" >/dev/null 2>&1
	"$bin/loadgen" -addr "$addr" -requests "$MIX" -c "$CONCURRENCY" -warmup 0s -count "$checks" \
		-max-duration 20m -server "$name" >"$out_dir/$name.load.txt" || { stop_server; return 1; }
	callgrind_control -d "$server_pid" >/dev/null 2>&1
	stop_server

	# The dump (suffix .1) contains the measured checks. The file written at
	# exit contains what ran after the dump and is ignored.
	local dump instructions
	dump=$(ls "$out_dir/$name".*.out.1 2>/dev/null) || return 1
	instructions=$(sed -n 's/^summary: *\([0-9]*\).*$/\1/p' "$dump")
	printf '%-10s checks=%-6s instructions=%-14s per_check=%s\n' "$name" "$checks" "$instructions" \
		"$((instructions / checks))" | tee -a "$out_dir/summary.txt"
}

for name in $SERVERS; do
	checks=$CHECKS
	if [[ $name == rego ]]; then
		checks=$((CHECKS / 4))
	fi
	# Callgrind sometimes still aborts on a signal (see measure), so a
	# failed measurement is retried.
	for attempt in 1 2 3; do
		if measure "$name" "$checks"; then
			break
		fi
		echo "callgrind.sh: measurement of $name failed (attempt $attempt of 3)" >&2
		if ((attempt == 3)); then
			exit 1
		fi
	done
done
