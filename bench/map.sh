#!/bin/bash
# bench/map.sh -- mapping speed and memory from 10,000 to 1,000,000 users.
#
# Usage: bash bench/map.sh [SCALE ...]     (default: 1.45 14.5 145 = about 10k, 100k, 1M users)
#        MAP_ROUNDS=N (default 3): maps per scale
# Needs: /usr/bin/time (apt-get install time). Writes bench/results/map-<date>.md and prints it.
#
# For each scale: the sample estate's ldifde flavour is generated and discovered into a fresh
# state (not timed here: see bench/discover.sh), then `samla map` runs MAP_ROUNDS times under
# /usr/bin/time -v, each on a fresh copy of that state (an empty name book): wall time and peak
# memory of the whole command (load the snapshots from SQLite, map, store the unified
# directory, write the reports). On a shared VM one run's wall time varies by a quarter, so
# the table has the median and the range; the peak is the largest of the runs.
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
  echo "Command: MAP_ROUNDS=${MAP_ROUNDS:-3} bash bench/map.sh $SCALES"
  echo
  echo "| scale | users in snapshots | people mapped | map wall [s] | map wall range [s] | map peak RSS [MiB] | discover wall [s] |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
} > "$out"
for scale in $SCALES; do
  dir="$WORK/$scale"
  read -r users discover < <(project "$dir" "$scale")
  cp "$dir/state/samla.db" "$dir/fresh.db"
  runs=()
  for _ in $(seq "${MAP_ROUNDS:-3}"); do
    rm -f "$dir"/state/samla.db*; cp "$dir/fresh.db" "$dir/state/samla.db"; sync
    runs+=("$(timed "$dir/map.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" map --json)")
  done
  rm -f "$dir/fresh.db"
  read -r wall range rss < <(printf '%s\n' "${runs[@]}" | python3 -c '
import statistics, sys
runs = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
walls = [w for w, _ in runs]
print(f"{statistics.median(walls):.2f}", f"{min(walls):.2f}–{max(walls):.2f}", f"{max(r for _, r in runs):.0f}")')
  people=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(s["people"] for s in d["summaries"].values()))' "$dir/map.json")
  echo "| $scale | $users | $people | $wall | $range | $rss | $discover |" >> "$out"
done
cat "$out"
