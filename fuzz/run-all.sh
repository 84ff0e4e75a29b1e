#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS (default 45), JOBS targets at a time
# (default 1). New corpus entries go to target/work-corpus/<target>, so the committed seeds in
# corpus/<target> stay small; crashes land in artifacts/<target>/.
#
#   fuzz/run-all.sh            # 45 s per target, one at a time
#   SECONDS_PER_TARGET=30 JOBS=2 fuzz/run-all.sh checkpoint sct
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-45}
JOBS=${JOBS:-1}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O
mkdir -p target/fuzz-logs
run() {
    local t=$1
    mkdir -p "target/work-corpus/$t"
    if cargo +nightly fuzz run -O "$t" "target/work-corpus/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        >"target/fuzz-logs/$t.log" 2>&1; then
        echo "$t: ok ($(grep -E '^stat::number_of_executed_units' "target/fuzz-logs/$t.log" | awk '{print $2}') runs)"
    else
        echo "$t: FAILED, see fuzz/target/fuzz-logs/$t.log and fuzz/artifacts/$t/"
    fi
}
running=0
for t in "${targets[@]}"; do
    run "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
