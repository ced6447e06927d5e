#!/bin/bash
# bench/graph.sh -- one big wave written to the test tenant twice, from the same dry-run: by
# `samla wave run` and by bench/graph_baseline.py (one request per change, sequential, retry on
# 429 after Retry-After: the script an administrator writes), each against a fresh tenant at
# Graph's real write budget, time-scaled.
#
# Usage: bash bench/graph.sh [SCALE] [TIME_SCALE] [MAX_USERS]   (defaults 2.2 20 10000: a wave of
#        about 10,000 accounts; window 150 / TIME_SCALE real seconds)
# Needs: python3, /usr/bin/time. Writes bench/results/graph-<date>.md and prints it.
#
# Both tenants get the earlier waves first (samla's tenant from samla, the baseline's from the
# baseline: the big wave refers to their objects), then the window is let pass, then the big
# wave is timed. The writes are counted by the tenant (GET /_samla/writes: every admitted write,
# each request inside a $batch counting one, as Graph counts them); budget_use in lib.sh gives
# the share of the budget each side sustained. Afterwards both tenants' content is compared
# object by object (ids replaced by anchors and mailNicknames): it must be the same.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALE=${1:-2.2}
TIME_SCALE=${2:-20}
MAX_USERS=${3:-10000}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-graph}
cargo build --release -q
SAMLA=$PWD/target/release/samla
dir="$WORK/$SCALE"
trap stop_tenants EXIT
read -r wave accounts < <(big_wave_project "$dir" "$SCALE" "$MAX_USERS")
window=$(python3 -c "print(150 / $TIME_SCALE)")
files=()
for w in $(seq 1 "$wave"); do
  "$SAMLA" -c "$dir/samla.toml" wave dry-run "$w" --json > "$dir/dry-run-$w.json"
  files+=("$(cd "$dir" && realpath "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["outputs"]["graph_requests"])' "$dir/dry-run-$w.json")")")
done
read -r dry_writes dry_naive < <(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["graph"]; print(g["writes"], g["naive"])' "$dir/dry-run-$wave.json")

# samla
start_tenant "$dir/tenant-samla.json" "$TIME_SCALE"
add_target "$dir" "$dir/tenant-samla.json" "$window"
earlier_waves "$dir" "$wave" "$window" "$dir/tenant-samla.json" "$dir/samla-before.json"
read -r s_wall s_rss < <(timed "$dir/run.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" wave run "$wave" --target bench --yes --json)
python3 bench/tenant.py writes "$dir/tenant-samla.json" > "$dir/samla-after.json"
read -r s_writes s_span s_min s_share s_fill_min s_fill_mean < <(budget_use "$dir/samla-before.json" "$dir/samla-after.json" 3000 150)
read -r s_ok s_batches s_reads s_throttled < <(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); g=d["tenant"]["graph"]
print("yes" if d["ok"] else "no", g["batches_sent"], g["reads_sent"], g["throttled"])' "$dir/run.json")
python3 bench/tenant.py dump "$dir/tenant-samla.json" "$dir/dump-samla.json"

# the baseline
start_tenant "$dir/tenant-baseline.json" "$TIME_SCALE"
rm -f "$dir/baseline-ids.json"
if [ "$wave" -gt 1 ]; then
  python3 bench/graph_baseline.py "$dir/tenant-baseline.json" "${files[@]:0:$((wave - 1))}" --ids "$dir/baseline-ids.json" > "$dir/baseline-earlier.json"
fi
sleep "$window"
python3 bench/tenant.py writes "$dir/tenant-baseline.json" > "$dir/baseline-before.json"
python3 bench/graph_baseline.py "$dir/tenant-baseline.json" "${files[$((wave - 1))]}" --ids "$dir/baseline-ids.json" --json "$dir/baseline.json" > /dev/null
python3 bench/tenant.py writes "$dir/tenant-baseline.json" > "$dir/baseline-after.json"
read -r b_writes b_span b_min b_share b_fill_min b_fill_mean < <(budget_use "$dir/baseline-before.json" "$dir/baseline-after.json" 3000 150)
read -r b_requests b_throttled b_errors b_wall < <(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["throttled"], d["errors"], d["seconds"])' "$dir/baseline.json")
python3 bench/tenant.py dump "$dir/tenant-baseline.json" "$dir/dump-baseline.json"
stop_tenants
read -r users groups members managers licences dupes same diff < <(python3 bench/tenant.py compare "$dir/dump-samla.json" "$dir/dump-baseline.json")

pct() { python3 -c "print(f'{100 * $1 / max($2, 1):.2f}')"; }
mkdir -p bench/results
out="bench/results/graph-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla wave run against one request per change, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/graph.sh $SCALE $TIME_SCALE $MAX_USERS (budget 3,000 writes per 150 s, time-scaled: window $window s)"
  echo "Wave: $wave, $accounts accounts; dry-run: $dry_writes writes as samla renders them, $dry_naive with one request per change"
  echo
  echo "| side | HTTP requests | writes admitted | throttled (429) | throttled share | errors | span [Graph s] | minimum [Graph s] | budget share | window fill | wall [s] |"
  echo "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| samla wave run | $((s_batches + s_reads)) | $s_writes | $s_throttled | $(pct "$s_throttled" "$s_writes") % | $([ "$s_ok" = yes ] && echo 0 || echo failed) | $s_span | $s_min | $s_share % | $s_fill_min % / $s_fill_mean % | $s_wall |"
  echo "| one request per change | $b_requests | $b_writes | $b_throttled | $(pct "$b_throttled" "$b_writes") % | $b_errors | $b_span | $b_min | $b_share % | $b_fill_min % / $b_fill_mean % | $b_wall |"
  echo
  echo "samla: $s_batches \$batch requests and $s_reads reads; peak RSS $s_rss MiB."
  echo "Tenants afterwards: users $users, groups $groups, memberships $members, managers $managers, licences $licences, duplicates $dupes; same content: $same${diff:+ ($diff)}"
} > "$out"
cat "$out"
