#!/usr/bin/env bash
# Benchmarks (issue 7): build the workspace in release mode, then run tsb-bench, which starts its
# own tsb-emulator and writes the report.
#   scripts/bench.sh           full run, writes BENCHMARKS.md (a few minutes)
#   scripts/bench.sh --smoke   every measurement with few iterations (< 30 s after the build),
#                              writes target/BENCHMARKS.smoke.md; what CI runs
# Extra arguments are passed to tsb-bench (e.g. --out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out=BENCHMARKS.md
for a in "$@"; do
  if [ "$a" = "--smoke" ]; then out="$target/BENCHMARKS.smoke.md"; fi
done
started=$(date +%s)
cargo build --release --workspace
# The report states how long the build took (the 5-minute budget covers build and run).
TSB_BENCH_BUILD_SECONDS=$(( $(date +%s) - started ))
export TSB_BENCH_BUILD_SECONDS
exec "$target/release/tsb-bench" --out "$out" "$@"
