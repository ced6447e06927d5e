#!/bin/bash
# bench/map-ab.sh -- `samla map` of two builds side by side on one project: the ratio of a change.
#
# Usage: bash bench/map-ab.sh REV [SCALE] [ROUNDS]   (default scale 145 = about 1,000,000 users, 2 rounds)
#   REV: the commit to compare with (built in a git worktree under $BENCH_WORK; OLD_SAMLA=<binary>
#   uses a build you already have). The working tree's release build is the other side.
# Needs: /usr/bin/time (apt-get install time). Writes bench/results/map-ab-<date>.md and prints it.
#
# One project (the sample estate's ldifde flavour at SCALE, discovered once) and a copy of its
# fresh state (made by the older build) before every run, so both builds map exactly the same snapshots with an empty name
# book. The builds alternate (old, new, old, new, ...) so that a machine whose speed drifts
# (a shared VM) weighs on both alike; the table has every run and the ratio of the medians.
# OWN_STATE=1: each build discovers a project of its own instead, for changes to what discover
# stores (the state's page size): each side then maps the state its own build wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
REV=${1:?usage: bench/map-ab.sh REV [SCALE] [ROUNDS]}; SCALE=${2:-145}; ROUNDS=${3:-2}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-ab}
cargo build --release -q
SAMLA=$PWD/target/release/samla
if [ -z "${OLD_SAMLA:-}" ]; then
  git worktree remove --force "$WORK/old" 2>/dev/null || true
  git worktree add -f --detach "$WORK/old" "$REV" -q
  (cd "$WORK/old" && CARGO_TARGET_DIR="$WORK/old-target" cargo build --release -q)
  OLD_SAMLA=$WORK/old-target/release/samla
fi
dir="$WORK/project"
# Discovered by the older build: the newer one migrates its copy of an older state file, while
# an older samla refuses a newer schema.
read -r users _ < <(SAMLA=$OLD_SAMLA project "$dir" "$SCALE")
cp "$dir/state/samla.db" "$WORK/fresh-old.db"
if [ "${OWN_STATE:-0}" = 1 ]; then
  read -r users _ < <(SAMLA=$SAMLA project "$dir" "$SCALE")
  cp "$dir/state/samla.db" "$WORK/fresh-new.db"
else
  cp "$WORK/fresh-old.db" "$WORK/fresh-new.db"
fi
out="bench/results/map-ab-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla map, $(git rev-parse --short=12 "$REV") against the working tree, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: OWN_STATE=${OWN_STATE:-0} bash bench/map-ab.sh $REV $SCALE $ROUNDS ($users users in the snapshots)"
  echo
  echo "| round | build | map wall [s] | user [s] | system [s] | peak RSS [MiB] | content hash |"
  echo "|---:|:---|---:|---:|---:|---:|:---|"
} > "$out"
for round in $(seq "$ROUNDS"); do
  for side in old new; do
    bin=$SAMLA; [ $side = old ] && bin=$OLD_SAMLA
    rm -f "$dir"/state/samla.db*; cp "$WORK/fresh-$side.db" "$dir/state/samla.db"
    # The copy's gigabytes are written back before the run, not during it (on this VM that
    # writeback slowed whichever build ran next by seconds).
    sync
    read -r wall rss < <(timed "$dir/map-$side.json" "$dir/time-$side.txt" "$bin" -c "$dir/samla.toml" map --json)
    user=$(awk -F': ' '/User time/ {print $2}' "$dir/time-$side.txt")
    sys=$(awk -F': ' '/System time/ {print $2}' "$dir/time-$side.txt")
    hash=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["content_hash"][:12])' "$dir/map-$side.json")
    echo "| $round | $side | $wall | $user | $sys | $rss | $hash |" >> "$out"
  done
done
python3 - "$out" <<'PY' >> "$out"
import re, statistics, sys
rows = [l.split("|")[1:-1] for l in open(sys.argv[1]) if re.match(r"^\| \d", l)]
med = lambda side, col: statistics.median(float(r[col]) for r in rows if r[1].strip() == side)
hashes = {r[6].strip() for r in rows}
print()
print(f"Median wall: old {med('old', 2):.1f} s, new {med('new', 2):.1f} s; old / new = **{med('old', 2) / med('new', 2):.2f}x**.")
print(f"Median peak RSS: old {med('old', 5):.0f} MiB, new {med('new', 5):.0f} MiB.")
print("Content hash: " + ("**equal** in every run" if len(hashes) == 1 else f"**differs**: {sorted(hashes)}"))
PY
cat "$out"
