#!/usr/bin/env bash
# Benchmark ecsauthz against a noop ext_authz server (the cost of the gRPC
# round trip alone) and a Rego peer (OPA doing the same job), side by side
# in one run.
#
# Usage, from anywhere in the repository:
#   bench/run.sh                 # full run, about 6 minutes with the defaults
#   ROUNDS=1 DURATION=3s bench/run.sh   # quick look
#   PROFILE=1 bench/run.sh       # also take CPU and allocation profiles of ecsauthz
#
# For every round and every concurrency level it starts the servers one after
# another (noop, ecsauthz, rego, then again). Each server is pinned to CPU
# $SERVER_CPU with taskset, and the load generator to CPU $CLIENT_CPU. The
# runner waits for gRPC health SERVING, sends $WARMUP of unmeasured load and
# then $DURATION of measured load, and stops the server by its PID.
# Everything listens on and sends to 127.0.0.1 only. Raw results go to
# bench/results/<UTC time>/, and the table of medians is printed at the end.
#
# Settings (environment variables):
#   ROUNDS=3  LEVELS="8 32 64"  WARMUP=2s  DURATION=6s  CONNS=1
#   SERVERS="noop ecsauthz rego"  (a subset skips the others)
#   SERVER_CPU=0  CLIENT_CPU=1
#   MIX=<dir of CheckRequest *.json>  default: examples/checkrequests when it
#       contains request files, else bench/testdata/mix
#   ECSAUTHZ_EXTRA_ARGS="..."  more flags for `ecsauthz serve`
#   PROFILE=0|1  PROFILE_SECONDS=10
#   SCALE=1|0  SCALE_RUNS=2  also run bench/scale.sh (startup and RSS with a
#       100,000-grant store)
#   CALLGRIND=1|0  also run bench/callgrind.sh (instructions per check, needs valgrind)
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$bench_dir")

ROUNDS=${ROUNDS:-3}
LEVELS=${LEVELS:-"8 32 64"}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-6s}
CONNS=${CONNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
ECSAUTHZ_EXTRA_ARGS=${ECSAUTHZ_EXTRA_ARGS:-}
SERVERS=${SERVERS:-"noop ecsauthz rego"}
SCALE=${SCALE:-1}
SCALE_RUNS=${SCALE_RUNS:-2}
CALLGRIND=${CALLGRIND:-1}

# Loopback ports, away from ecsauthz's defaults (9191, 9192) so a
# developer's running instance does not collide with the benchmark.
NOOP_ADDR=127.0.0.1:19291
ECSAUTHZ_ADDR=127.0.0.1:19191
ECSAUTHZ_HTTP_ADDR=127.0.0.1:19192
REGO_ADDR=127.0.0.1:19391

if [[ -z ${MIX:-} ]]; then
	if compgen -G "$repo_dir/examples/checkrequests/*.json" >/dev/null; then
		MIX=$repo_dir/examples/checkrequests
	else
		MIX=$bench_dir/testdata/mix
	fi
fi

for tool in taskset go getconf; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool not found; install it (taskset is in util-linux)" >&2
		exit 1
	fi
done
if (($(nproc) < 2)); then
	echo "run.sh: needs 2 CPUs to pin the server and the load generator apart, found $(nproc)" >&2
	exit 1
fi

run_id=$(date -u +%Y%m%dT%H%M%SZ)
out=$bench_dir/results/$run_id
mkdir -p "$out/decisions" "$out/logs"
bin=$bench_dir/bin
clock_ticks=$(getconf CLK_TCK)

echo "== building into $bin"
if [[ " $SERVERS " == *" ecsauthz "* ]]; then
	(cd "$repo_dir" && go build -o "$bin/ecsauthz" ./cmd/ecsauthz)
fi
(cd "$bench_dir" && go build -o "$bin/" ./cmd/loadgen ./cmd/noop ./cmd/regopeer ./cmd/report)

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	echo "cpus: $(nproc)"
	echo "go: $(go version)"
	echo "commit: $(git -C "$repo_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "mix: $MIX ($(find "$MIX" -name '*.json' | wc -l) files)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: ROUNDS=$ROUNDS LEVELS=\"$LEVELS\" WARMUP=$WARMUP DURATION=$DURATION CONNS=$CONNS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
} | tee "$out/env.txt"

server_pid=""

stop_server() {
	if [[ -z $server_pid ]]; then
		return
	fi
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}
trap stop_server EXIT

server_addr() {
	case $1 in
	noop) echo "$NOOP_ADDR" ;;
	ecsauthz) echo "$ECSAUTHZ_ADDR" ;;
	rego) echo "$REGO_ADDR" ;;
	esac
}

# port_in_use ADDR succeeds when something accepts connections on ADDR.
port_in_use() {
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# start_server NAME LOGTAG starts one server pinned to $SERVER_CPU and waits
# until its gRPC health reports SERVING. It fails when another process listens
# on the port, because the health check would then reach the wrong server.
start_server() {
	local name=$1 log=$out/logs/$2.log addr
	addr=$(server_addr "$name")

	for _ in $(seq 50); do
		port_in_use "$addr" || break
		sleep 0.1
	done
	if port_in_use "$addr"; then
		echo "run.sh: $addr is in use by another process; stop it or change the port in run.sh" >&2
		exit 1
	fi

	case $name in
	noop)
		taskset -c "$SERVER_CPU" "$bin/noop" -addr "$NOOP_ADDR" >"$log" 2>&1 &
		;;
	ecsauthz)
		# shellcheck disable=SC2086 # ECSAUTHZ_EXTRA_ARGS is a list of flags.
		(cd "$repo_dir" && exec taskset -c "$SERVER_CPU" "$bin/ecsauthz" serve \
			-grpc-address "$ECSAUTHZ_ADDR" -http-address "$ECSAUTHZ_HTTP_ADDR" \
			-http-pprof=true -log-level warn $ECSAUTHZ_EXTRA_ARGS) >"$log" 2>&1 &
		;;
	rego)
		# The peer verifies bearer tokens against the same JWKS as ecsauthz.
		taskset -c "$SERVER_CPU" "$bin/regopeer" -addr "$REGO_ADDR" \
			-jwks "$repo_dir/examples/jwks/jwks.json" >"$log" 2>&1 &
		;;
	esac
	server_pid=$!

	if ! taskset -c "$CLIENT_CPU" "$bin/loadgen" -addr "$addr" -wait 20s || ! kill -0 "$server_pid" 2>/dev/null; then
		echo "run.sh: $name did not become SERVING; last lines of $log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
}

echo "== decisions of each server on the mix"
for name in $SERVERS; do
	start_server "$name" "decisions-$name"
	taskset -c "$CLIENT_CPU" "$bin/loadgen" -addr "$(server_addr "$name")" -requests "$MIX" \
		-decisions >"$out/decisions/$name.jsonl"
	stop_server
done

echo "== load: rounds=$ROUNDS levels=$LEVELS warmup=$WARMUP duration=$DURATION"
for round in $(seq "$ROUNDS"); do
	for level in $LEVELS; do
		for name in $SERVERS; do
			start_server "$name" "r$round-c$level-$name"
			taskset -c "$CLIENT_CPU" "$bin/loadgen" -addr "$(server_addr "$name")" -requests "$MIX" \
				-c "$level" -conns "$CONNS" -warmup "$WARMUP" -duration "$DURATION" \
				-pid "$server_pid" -clk-tck "$clock_ticks" -server "$name" -round "$round" \
				-out "$out/raw.jsonl"
			stop_server
		done
	done
done

if [[ $PROFILE == 1 && " $SERVERS " == *" ecsauthz "* ]]; then
	echo "== profiles of ecsauthz at concurrency 32"
	start_server ecsauthz profile
	taskset -c "$CLIENT_CPU" "$bin/loadgen" -addr "$ECSAUTHZ_ADDR" -requests "$MIX" -c 32 \
		-warmup 1s -duration "$((PROFILE_SECONDS + 3))s" -server ecsauthz-profiled >"$out/profile-load.txt" &
	load_pid=$!
	sleep 1
	# The allocation profile counts from process start, so the profile taken
	# before the CPU profile is subtracted from the one taken after it.
	curl -sS --max-time 10 -o "$out/allocs-before.pprof" "http://$ECSAUTHZ_HTTP_ADDR/debug/pprof/allocs"
	curl -sS --max-time "$((PROFILE_SECONDS + 10))" -o "$out/cpu.pprof" \
		"http://$ECSAUTHZ_HTTP_ADDR/debug/pprof/profile?seconds=$PROFILE_SECONDS"
	curl -sS --max-time 10 -o "$out/allocs.pprof" "http://$ECSAUTHZ_HTTP_ADDR/debug/pprof/allocs"
	wait "$load_pid"
	stop_server
	go tool pprof -top -nodecount=30 "$bin/ecsauthz" "$out/cpu.pprof" >"$out/cpu-top.txt" 2>/dev/null
	go tool pprof -top -cum -nodecount=60 "$bin/ecsauthz" "$out/cpu.pprof" >"$out/cpu-top-cum.txt" 2>/dev/null
	go tool pprof -top -nodecount=30 -sample_index=alloc_space -diff_base "$out/allocs-before.pprof" \
		"$bin/ecsauthz" "$out/allocs.pprof" >"$out/allocs-top.txt" 2>/dev/null
	echo "profiles: $out/cpu.pprof $out/allocs.pprof (top entries in cpu-top.txt, cpu-top-cum.txt, allocs-top.txt)"
fi

if [[ $SCALE == 1 && " $SERVERS " == *" ecsauthz "* ]]; then
	echo "== startup and memory with a large store (bench/scale.sh)"
	if ! RUNS=$SCALE_RUNS "$bench_dir/scale.sh" "$out"; then
		echo "run.sh: scale.sh failed; the report leaves out startup and memory" >&2
	fi
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/env.txt"
if [[ $CALLGRIND == 1 ]]; then
	echo "== instructions per check (bench/callgrind.sh)"
	if ! SERVERS=$SERVERS "$bench_dir/callgrind.sh" "$out/callgrind"; then
		echo "run.sh: callgrind.sh failed; the report leaves out instruction counts" >&2
	fi
fi

echo "== results (medians of $ROUNDS rounds; raw lines in $out/raw.jsonl)"
report_args=(-in "$out/raw.jsonl" -decisions "$out/decisions")
if [[ -f $out/callgrind/summary.txt ]]; then
	report_args+=(-callgrind "$out/callgrind/summary.txt")
fi
if [[ -f $out/scale.jsonl ]]; then
	report_args+=(-scale "$out/scale.jsonl")
fi
"$bin/report" "${report_args[@]}" | tee "$out/table.md"
