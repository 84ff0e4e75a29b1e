#!/usr/bin/env python3
"""Per-entry instruction counts from a callgrind profile of the stack (see instructions.sh).

    callgrind_report.py CALLGRIND_OUT ENTRIES

Reads `callgrind_annotate` output and prints, per entry: all user-space instructions of the
server, the ECDSA verifications and signatures (aws-lc's ECDSA_do_verify / ECDSA_do_sign,
inclusive: the scalar multiplications and inversions, not the message hashing), SHA-256 (both
implementations), the memory allocator, and the rest; then total / (one verify + one sign per
call), the instruction-count counterpart of the load generator's "server CPU / crypto floor".
"""

import re
import subprocess
import sys

# Inclusive cost of these functions (a regex on the symbol) is what the row counts.
INCLUSIVE = {
    "ECDSA verify": r"aws_lc_[0-9_]+_ECDSA_do_verify",
    "ECDSA sign": r"aws_lc_[0-9_]+_ECDSA_do_sign",
    "SHA-256 (RustCrypto)": r"sha2::sha256::compress256",
    "SHA-256 (aws-lc)": r"sha256_block_data_order",
}
# Exclusive cost of every function matching this is the allocator's.
ALLOCATOR = re.compile(
    r"^(_?mi_\w+|__rustc::__rust_(alloc|dealloc|realloc|alloc_zeroed)|malloc|free|cfree|realloc"
    r"|calloc|_int_malloc|_int_free|_int_realloc|malloc_consolidate|unlink_chunk\.\w+"
    r"|aws_lc_[0-9_]+_OPENSSL_(malloc|free|zalloc))$"
)
LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\*|<|>)?\s*([^\s:]+):(.+?)(?: \((\d[\d,]*)x\))?(?: \[.*\])?$")


def annotate(path, *args):
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", *args, path],
        check=True, capture_output=True, text=True,
    ).stdout
    return out.splitlines()


def count(text):
    return int(text.replace(",", ""))


def main():
    path, entries = sys.argv[1], int(sys.argv[2])
    total = None
    allocator = 0
    for line in annotate(path):
        m = LINE.match(line)
        if not m:
            if "PROGRAM TOTALS" in line:
                total = count(line.split()[0])
            continue
        if ALLOCATOR.match(m.group(4).strip()):
            allocator += count(m.group(1))
    if total is None:
        sys.exit(f"{path}: no PROGRAM TOTALS (was anything counted?)")

    # In the caller tree, a function's block is its callers ("<", with call counts) and the
    # function itself ("*", inclusive cost).
    inclusive = {name: [0, 0] for name in INCLUSIVE}
    calls = 0
    for line in annotate(path, "--inclusive=yes", "--tree=caller"):
        if not line.strip():
            calls = 0
            continue
        m = LINE.match(line)
        if not m:
            continue
        if m.group(2) == "<" and m.group(5):
            calls += count(m.group(5))
        elif m.group(2) == "*":
            symbol = m.group(4).strip()
            for name, pattern in INCLUSIVE.items():
                if re.fullmatch(pattern, symbol):
                    inclusive[name][0] += count(m.group(1))
                    inclusive[name][1] += calls

    def k(n):
        return f"{n / entries / 1000:8.1f}k"

    print(f"instructions per entry (server, user space, all threads; {entries} entries):")
    print(f"  total                  {k(total)}")
    accounted = 0
    per_call = {}
    for name, (cost, ncalls) in inclusive.items():
        accounted += cost
        extra = ""
        if ncalls:
            per_call[name] = cost / ncalls
            extra = f"  ({ncalls / entries:.2f} calls per entry, {cost / ncalls / 1000:.1f}k per call)"
        print(f"  {name:22} {k(cost)}{extra}")
    print(f"  {'memory allocator':22} {k(allocator)}")
    print(f"  {'everything else':22} {k(total - accounted - allocator)}")
    floor = per_call.get("ECDSA verify", 0) + per_call.get("ECDSA sign", 0)
    if floor:
        print(f"  total / (one verify + one sign): {total / entries / floor:.2f}")
    print("  (valgrind's CPU has no SHA-NI: both SHA-256 rows count portable or AVX code, several")
    print("  times the instructions the real CPU runs.)")


if __name__ == "__main__":
    main()
