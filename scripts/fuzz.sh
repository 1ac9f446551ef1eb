#!/usr/bin/env bash
# Runs the two fuzz targets of tests/api/fuzz.rs longer than CI does, with fresh seeds:
#   SECONDS_PER_SEED=60 SEEDS="1 2 3" scripts/fuzz.sh
# A failure prints its seed and input; add the input to the regression cases in tests/api/fuzz.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_SEED:-60}
seeds=${SEEDS:-$(od -An -N4 -tu4 /dev/urandom)}
cargo test --test api --no-run --quiet
for seed in $seeds; do
  echo "seed $seed, $secs s per target"
  FUZZ_SEED=$seed FUZZ_SECONDS=$secs cargo test --quiet --test api fuzz:: -- --nocapture 2>&1 \
    | grep -E "mutated lines|random operations|panicked|seed [0-9]+:|test result"
done
