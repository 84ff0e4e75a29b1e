# Sourced by the benchmark scripts in this directory: starts `sigstack up` (release build) on a
# fresh data directory with the benchmark ports (17700-17705, loopback), waits until it is ready,
# stops it when the script exits, and exports a token for the load generator.
#
#   start_stack DATA_DIR [extra `sigstack up` arguments...]
# sets PID (the stack's process) and SIGSTACK_LOADGEN_TOKEN; NICE_CMD (an array, may be empty)
# prefixes the command; READY_SECONDS (default 20) is how long to wait for it to be ready.
start_stack() {
    local dir=$1
    shift
    rm -rf "$dir"
    "${NICE_CMD[@]}" target/release/sigstack up --data-dir "$dir" "$@" --fulcio-port 17700 \
        --ctlog-port 17701 --rekor-v1-port 17702 --rekor-v2-port 17703 --tsa-port 17704 \
        --oidc-port 17705 >"$dir.log" 2>&1 &
    PID=$!
    trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true' EXIT
    for _ in $(seq $((${READY_SECONDS:-20} * 10))); do
        [ -f "$dir/trust/ready" ] && break
        sleep 0.1
    done
    [ -f "$dir/trust/ready" ] || { cat "$dir.log"; exit 1; }
    SIGSTACK_LOADGEN_TOKEN=$(target/release/sigstack token --data-dir "$dir" --email loadgen@example.test)
    export SIGSTACK_LOADGEN_TOKEN
}
