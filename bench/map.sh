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
SCALES=${*:-1.45 14.5 145}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-map}
IDS="bjuv klippan perstorp astorp orkelljunga"
cargo build --release -q
SAMLA=$PWD/target/release/samla
mkdir -p bench/results
out="bench/results/map-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla map, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "Command: bash bench/map.sh $SCALES"
  echo
  echo "| scale | users in snapshots | people mapped | map wall [s] | map peak RSS [MiB] | discover wall [s] |"
  echo "|---:|---:|---:|---:|---:|---:|"
} > "$out"
for scale in $SCALES; do
  dir="$WORK/$scale"; rm -rf "$dir"; mkdir -p "$dir"
  "$SAMLA" estate generate --flavor ldifde --scale "$scale" --out "$dir/estate" >/dev/null
  { echo '[state]'; echo 'path = "state/samla.db"'; for id in $IDS; do printf '\n[[source]]\nname = "%s"\nldif = "estate/%s.ldif"\n' "$id" "$id"; done; } > "$dir/samla.toml"
  cp -r mappings "$dir/mappings"
  t0=$(date +%s.%N)
  users=$("$SAMLA" -c "$dir/samla.toml" discover --json | python3 -c 'import json,sys; print(sum(r["snapshot"]["users"] for r in json.load(sys.stdin)))')
  discover=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  rm -rf "$dir/estate"   # the LDIF is not needed any more; at scale 145 it is 2 GB
  /usr/bin/time -v "$SAMLA" -c "$dir/samla.toml" map --json > "$dir/map.json" 2> "$dir/time.txt" || true
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time.txt" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  people=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(s["people"] for s in d["summaries"].values()))' "$dir/map.json")
  echo "| $scale | $users | $people | $wall | $rss | $discover |" >> "$out"
done
cat "$out"
