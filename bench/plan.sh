#!/bin/bash
# bench/plan.sh -- planning speed and memory from 10,000 to 1,000,000 mapped people.
#
# Usage: bash bench/plan.sh [SCALE ...]   (default: 1.8 18 181 = about 10k, 100k, 1M people mapped)
# Needs: /usr/bin/time (apt-get install time). Writes bench/results/plan-<date>.md and prints it.
#
# For each scale: the sample estate is generated, discovered and mapped into a fresh project
# (not timed here: see bench/discover.sh and bench/map.sh), then `samla plan --report` runs
# twice under /usr/bin/time -v: the first plan (no wave files yet) and a re-plan that reads
# the wave files back and keeps them. Then `samla waves` (reads the files and checks each
# against the inputs). Wall time and peak memory of each whole command: reading the unified
# directory from SQLite, scoring, cutting waves, scheduling, writing files and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALES=${*:-1.8 18 181}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-plan}
cargo build --release -q
SAMLA=$PWD/target/release/samla
mkdir -p bench/results
out="bench/results/plan-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla plan, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/plan.sh $SCALES"
  echo
  echo "| scale | people mapped | waves | plan wall [s] | plan peak RSS [MiB] | re-plan wall [s] | re-plan peak RSS [MiB] | waves wall [s] |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$out"
for scale in $SCALES; do
  dir="$WORK/$scale"
  project "$dir" "$scale" >/dev/null
  "$SAMLA" -c "$dir/samla.toml" map -q --json > "$dir/map.json" || true
  people=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(s["people"] for s in d["summaries"].values()))' "$dir/map.json")
  read -r wall rss < <(timed "$dir/plan.json" "$dir/plan-time.txt" "$SAMLA" -c "$dir/samla.toml" plan --report --json)
  read -r wall2 rss2 < <(timed "$dir/plan2.json" "$dir/plan2-time.txt" "$SAMLA" -c "$dir/samla.toml" plan --report --json)
  read -r wall3 _ < <(timed "$dir/waves.json" "$dir/waves-time.txt" "$SAMLA" -c "$dir/samla.toml" waves --json)
  waves=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["waves"]))' "$dir/plan.json")
  echo "| $scale | $people | $waves | $wall | $rss | $wall2 | $rss2 | $wall3 |" >> "$out"
done
cat "$out"
