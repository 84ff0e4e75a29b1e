#!/usr/bin/env bash
# Runs the log benchmarks of BENCHMARKS.md ("Load generator") against a release build:
# starts `sigstack up` on a fresh data directory (ports 17700-17705, loopback), runs the load
# generator phases, prints RSS and storage, and stops the stack it started.
#
#   cargo build --release -p sigstack -p sigstack-loadgen
#   tests/loadgen/bench.sh [DATA_DIR]        # default /tmp/sigstack-bench (deleted first)
#
# PERF=1 also records `perf record -g` of the server during the first Rekor v1 closed-loop
# phase (written to DATA_DIR-perf.data and summarised with `perf report`).
# NICE=-10 runs the stack and the load generator at that nice level (root only), which keeps
# other work on a shared machine from taking most of the CPU during the runs.
# CONNS (default 256) is the number of connections of the closed-loop write phases.
# The second Rekor v1 closed-loop run also reports the HTTP floor and the verify-and-sign floor
# (`write --http-floor --verify-and-sign-floor`).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-256}
BIN=target/release
D=${1:-/tmp/sigstack-bench}
NICE_CMD=(); [ -n "${NICE:-}" ] && NICE_CMD=(nice -n "$NICE")
. tests/loadgen/stack.sh
start_stack "$D"
LG=("${NICE_CMD[@]}" "$BIN/sigstack-loadgen")
ID=(--fulcio-url http://127.0.0.1:17700 --server-pid "$PID")
V1=(--url http://127.0.0.1:17702 --api v1)
V2=(--url http://127.0.0.1:17703 --api v2)
rss() { grep -E 'VmRSS|VmHWM' "/proc/$PID/status" | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
echo "== $(date -u +%FT%TZ) $(uname -r), $(nproc) cores; stack PID $PID; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== RSS after start: $(rss)"

echo "== Rekor v1, closed loop, $CONNS connections (run 1)"
PERF_ARGS=(); [ "${PERF:-0}" = 1 ] && PERF_ARGS=(--perf-out "$D-perf.data")
"${LG[@]}" write "${V1[@]}" "${ID[@]}" --connections "$CONNS" --count 200000 --duration 20 --fsync-dir "$D" "${PERF_ARGS[@]}"
echo "== Rekor v1, closed loop, $CONNS connections (run 2, after 8 s each of the same requests to two bare servers)"
"${LG[@]}" write "${V1[@]}" "${ID[@]}" --connections "$CONNS" --count 200000 --duration 20 --fsync-dir "$D" \
    --http-floor 8 --verify-and-sign-floor 8
echo "== Rekor v1, open loop, 2000/s for 20 s"
"${LG[@]}" write "${V1[@]}" "${ID[@]}" --rate 2000 --count 40000 --duration 20 --no-calibrate \
    --log-dir "$D/rekor-v1"
echo "== Rekor v2, closed loop, $CONNS connections"
"${LG[@]}" write "${V2[@]}" "${ID[@]}" --connections "$CONNS" --count 200000 --duration 20 --no-calibrate
echo "== Rekor v2, open loop, 2000/s for 20 s (latency until in a signed checkpoint)"
"${LG[@]}" write "${V2[@]}" "${ID[@]}" --rate 2000 --count 40000 --duration 20 --no-calibrate \
    --log-dir "$D/rekor-v2"
echo "== reads"
"${LG[@]}" read "${V1[@]}" --server-pid "$PID" --connections 64 --duration 10
"${LG[@]}" read "${V2[@]}" --server-pid "$PID" --connections 64 --duration 10
echo "== RSS at the end: $(rss)"
echo "== data directory: $(du -sk "$D" | cut -f1) KiB; rekor-v1 $(du -sk "$D/rekor-v1" | cut -f1) KiB; rekor-v2 $(du -sk "$D/rekor-v2" | cut -f1) KiB"
if [ "${PERF:-0}" = 1 ]; then
    perf report -i "$D-perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | head -40
fi
