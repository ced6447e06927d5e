#!/bin/bash
# bench/map.sh -- mapping speed and memory from 10,000 to 1,000,000 users.
#
# Usage: bash bench/map.sh [SCALE ...]     (default: 1.45 14.5 145 = about 10k, 100k, 1M users)
# Needs: /usr/bin/time (apt-get install time). Writes bench/results/map-<date>.md and prints it.
#
# For each scale: the sample estate's ldifde flavour is generated and discovered into a fresh
# state (not timed here: see bench/discover.sh), then `samla map` runs once under
# /usr/bin/time -v: wall time and peak memory of the whole command (load the snapshots from
# SQLite, map, store the unified directory, write the reports).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALES=${*:-1.45 14.5 145}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-map}
cargo build --release -q
SAMLA=$PWD/target/release/samla
mkdir -p bench/results
out="bench/results/map-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla map, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/map.sh $SCALES"
  echo
  echo "| scale | users in snapshots | people mapped | map wall [s] | map peak RSS [MiB] | discover wall [s] |"
  echo "|---:|---:|---:|---:|---:|---:|"
} > "$out"
for scale in $SCALES; do
  dir="$WORK/$scale"
  read -r users discover < <(project "$dir" "$scale")
  read -r wall rss < <(timed "$dir/map.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" map --json)
  people=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(s["people"] for s in d["summaries"].values()))' "$dir/map.json")
  echo "| $scale | $users | $people | $wall | $rss | $discover |" >> "$out"
done
cat "$out"
