#!/bin/bash
# bench/execute.sh -- a 10,000-user wave executed against the test tenant at Graph's real write
# budget, time-scaled: the share of the budget samla sustains and the share of requests throttled.
#
# Usage: bash bench/execute.sh [SCALE] [TIME_SCALE]   (defaults 2.2 and 20)
# Writes bench/results/execute-<date>.md and prints it.
#
# The test tenant (`samla test-tenant serve`) enforces 3,000 writes per 150 s as a sliding
# window; at --time-scale 20 the window lasts 7.5 real seconds, and the target says so
# (budget_window_seconds = 7.5), so samla paces exactly as it would against Graph. The tenant
# logs when each write arrived (GET /_samla/writes); `budget_use` in lib.sh turns the big
# wave's arrivals into the share of the budget used: the least time any client could take for
# that many writes over the time samla took, and the writes in each whole window.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALE=${1:-2.2}
TIME_SCALE=${2:-20}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-execute}
cargo build --release -q
SAMLA=$PWD/target/release/samla
dir="$WORK/$SCALE"
read -r wave accounts < <(big_wave_project "$dir" "$SCALE")
# Earlier waves first (the big wave refers to their objects), then the big one, timed.
window=$(python3 -c "print(150 / $TIME_SCALE)")
export SAMLA_BENCH_SECRET=bench-secret-$$
"$SAMLA" test-tenant serve --time-scale "$TIME_SCALE" --client-secret-env SAMLA_BENCH_SECRET \
  --domain samverkan.se --domain elev.samverkan.se \
  --sku SPE_E3=40000 --sku SPE_F1=15000 --sku M365EDU_A3_STUUSEBNFT=25000 > "$dir/tenant.json" &
tenant_pid=$!
trap 'kill $tenant_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$dir/tenant.json" ] && break; sleep 0.1; done
python3 - "$dir/tenant.json" "$window" >> "$dir/samla.toml" <<'PY'
import json, sys
t = json.loads(open(sys.argv[1]).readline())
print(f'''
[[target]]
name = "bench"
[target.tenant]
tenant_id = "{t["tenant_id"]}"
client_id = "{t["client_id"]}"
client_secret_env = "SAMLA_BENCH_SECRET"
graph_url = "{t["graph_url"]}"
login_url = "{t["url"]}"
budget_window_seconds = {sys.argv[2]}

[thresholds]
max_creates = 100000
''')
PY
for w in $(seq 1 $((wave - 1))); do
  "$SAMLA" -c "$dir/samla.toml" wave run "$w" --target bench --yes --json > "$dir/run-$w.json"
done
# A fresh process does not know the writes the earlier waves left in the tenant's window: let
# the window pass, as it would between waves.
sleep "$window"
tenant_writes "$dir/tenant.json" "$SAMLA_BENCH_SECRET" > "$dir/writes-before.json"
read -r wall rss < <(timed "$dir/run.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" wave run "$wave" --target bench --yes --json)
tenant_writes "$dir/tenant.json" "$SAMLA_BENCH_SECRET" > "$dir/writes-after.json"
read -r writes span minimum share fill_min fill_mean < <(budget_use "$dir/writes-before.json" "$dir/writes-after.json" 3000 150)
read -r batches throttled throttled_pct seconds < <(python3 - "$dir/run.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["tenant"]; g = t["graph"]
print(g["batches_sent"], g["throttled"], f'{100 * g["throttled"] / max(g["writes_sent"], 1):.2f}', f'{t["seconds"]:.1f}')
PY
)
mkdir -p bench/results
out="bench/results/execute-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla wave run against the test tenant, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/execute.sh $SCALE $TIME_SCALE (budget 3,000 writes per 150 s, time-scaled: window $window s)"
  echo
  echo "Span and minimum in Graph seconds (real seconds x $TIME_SCALE): from the first write's arrival to the last's, and the least any client could take for as many writes; budget share = minimum / span. Window fill: writes in each whole window from the first arrival, as a share of 3,000 (least / mean)."
  echo
  echo "| accounts | Graph writes | \$batch | throttled (429) | throttled share | tenant side [s] | span [Graph s] | minimum [Graph s] | budget share | window fill | wall [s] | peak RSS [MiB] |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| $accounts | $writes | $batches | $throttled | $throttled_pct % | $seconds | $span | $minimum | $share % | $fill_min % / $fill_mean % | $wall | $rss |"
} > "$out"
cat "$out"
