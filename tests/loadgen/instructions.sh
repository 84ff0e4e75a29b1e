#!/usr/bin/env bash
# Counts the instructions the stack runs per Rekor v1 entry, with valgrind's callgrind: the
# same count for the same build and inputs however busy or fast the machine is, where the
# load generator's CPU-time figures drift with the machine (BENCHMARKS.md, "Instructions per
# entry"). Starts `sigstack up` (release build) under callgrind with counting off, sends ENTRIES
# entries to warm it up, counts the next ENTRIES, and prints tests/loadgen/callgrind_report.py's
# per-entry table (total, ECDSA verify and sign, SHA-256, allocator, the rest).
#
#   cargo build --release -p sigstack -p sigstack-loadgen
#   tests/loadgen/instructions.sh [DATA_DIR] [ENTRIES]   # default /tmp/sigstack-instructions 2000
#
# CONNS (default 16) is the number of load-generator connections. The profile is kept as
# DATA_DIR-callgrind.out for callgrind_annotate. Valgrind runs the stack ~50 times slower and
# one thread at a time, so batches hold fewer entries than at full speed and the per-batch work
# (checkpoint signature, index commit) weighs more per entry.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-/tmp/sigstack-instructions}
N=${2:-2000}
CONNS=${CONNS:-16}
OUT="$D-callgrind.out"
rm -f "$OUT" "$OUT".*
NICE_CMD=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT")
READY_SECONDS=180
. tests/loadgen/stack.sh
start_stack "$D"
write() {
    target/release/sigstack-loadgen write --url http://127.0.0.1:17702 --api v1 \
        --fulcio-url http://127.0.0.1:17700 --connections "$CONNS" --count "$N" --duration 900 \
        --no-calibrate | grep -E "accepted|errors"
}
echo "== warm-up: $N entries"
write
callgrind_control --instr=on "$PID" >/dev/null 2>&1
echo "== counted: $N entries"
write
callgrind_control --instr=off "$PID" >/dev/null 2>&1
callgrind_control --dump "$PID" >/dev/null 2>&1
curl -s http://127.0.0.1:17702/metrics | awk '/^sigstack_log_batch_entries_(sum|count)\{log="rekor-v1"\}/ {
    v[$1 ~ /sum/ ? "s" : "c"] = $2 } END { printf "== %.1f entries per batch (whole run)\n", v["s"] / v["c"] }'
# The dump holds only what was counted; the file written at exit holds nothing more.
python3 tests/loadgen/callgrind_report.py "$(ls "$OUT".* | sort -V | tail -1)" "$N"
