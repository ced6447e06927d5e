#!/bin/bash
# bench/dry-run.sh -- the dry-run of a 10,000-user wave, without a target to compare against.
#
# Usage: bash bench/dry-run.sh [SCALE]   (default 2.2: about 12,000 people mapped)
# Needs: /usr/bin/time (apt-get install time). Writes bench/results/dry-run-<date>.md and prints it.
#
# The sample estate is discovered and mapped into a fresh project (not timed), planned with
# limits wide enough for one business wave of about 10,000 accounts, and that wave is
# dry-run under /usr/bin/time -v: reading the plan and the unified directory, checking the
# inputs, rendering every Graph request and LDAP operation, writing the JSON lines, the
# $batch bodies, the LDIF and the CSV of changes.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALE=${1:-2.2}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-dry-run}
cargo build --release -q
SAMLA=$PWD/target/release/samla
dir="$WORK/$SCALE"
read -r wave accounts < <(big_wave_project "$dir" "$SCALE")
read -r wall rss < <(timed "$dir/dry-run.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" wave dry-run "$wave" --json)
python3 - "$dir/dry-run.json" > "$dir/figures.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g = d["graph"]
print(g["writes"], g["naive"], g["batches"], round(g["seconds_at_budget"]), d["ldap_operations"])
PY
read -r writes naive batches seconds ldap < "$dir/figures.txt"
mkdir -p bench/results
out="bench/results/dry-run-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla wave dry-run, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/dry-run.sh $SCALE"
  echo
  echo "| accounts in the wave | dry-run wall [s] | peak RSS [MiB] | Graph writes | one request per change | \$batch requests | time at the write budget [s] | LDAP operations |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| $accounts | $wall | $rss | $writes | $naive | $batches | $seconds | $ldap |"
} > "$out"
cat "$out"
