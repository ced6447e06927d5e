#!/bin/bash
# bench/resume.sh -- the cost of resuming a wave after a crash: `samla wave run` killed with
# SIGKILL part-way through a big wave, then run again to the end.
#
# Usage: bash bench/resume.sh [SCALE] [TIME_SCALE] [MAX_USERS] [KILL_PERCENTS]
#        (defaults 2.2 20 10000 "25 50 75")
# Needs: python3, /usr/bin/time. Writes bench/results/resume-<date>.md and prints it.
#
# First a clean run of the big wave against a fresh test tenant (after the earlier waves, with
# the window let pass, as in bench/graph.sh): its admitted writes are the wave's minimal
# writes W and its wall time T. Then, for each kill point P, a fresh copy of the planned project
# and a fresh tenant: the earlier waves, the window, then the big wave killed with SIGKILL at
# P % of T, and run again at once (no pause: the tenant's window still holds the killed run's
# writes) until it finishes. The tenant counts every admitted write (GET /_samla/writes):
# repeated writes = writes admitted by both runs - W. Duplicated objects: users sharing an
# anchor or groups sharing a mailNickname in the tenant's dump (must be 0), and the dump must
# equal the clean run's. Resume time: the re-run's wall time against (1 - share of W admitted
# before the kill) x T.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SCALE=${1:-2.2}
TIME_SCALE=${2:-20}
MAX_USERS=${3:-10000}
KILLS=${4:-25 50 75}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench-resume}
cargo build --release -q
SAMLA=$PWD/target/release/samla
base="$WORK/$SCALE"
run_pid=
cleanup() { [ -n "$run_pid" ] && kill -9 "$run_pid" 2>/dev/null; stop_tenants; }
trap cleanup EXIT
read -r wave accounts < <(big_wave_project "$base" "$SCALE" "$MAX_USERS")
window=$(python3 -c "print(150 / $TIME_SCALE)")
count() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$1"; }

# prepare NAME: a fresh copy of the planned project with a fresh tenant, the earlier waves run
# and the window let pass. Sets dir.
prepare() {
  dir="$WORK/$SCALE-$1"
  rm -rf "$dir"; cp -a "$base" "$dir"
  start_tenant "$dir/tenant.json" "$TIME_SCALE"
  add_target "$dir" "$dir/tenant.json" "$window"
  earlier_waves "$dir" "$wave" "$window" "$dir/tenant.json" "$dir/writes-0.json"
}

prepare clean
read -r clean_wall _ < <(timed "$dir/run.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" wave run "$wave" --target bench --yes --json)
python3 bench/tenant.py writes "$dir/tenant.json" > "$dir/writes-2.json"
minimal=$(( $(count "$dir/writes-2.json") - $(count "$dir/writes-0.json") ))
python3 bench/tenant.py dump "$dir/tenant.json" "$dir/dump.json"
clean_dump="$dir/dump.json"
stop_tenants

rows=()
for p in $KILLS; do
  prepare "kill-$p"
  at=$(python3 -c "print(round($clean_wall * $p / 100, 2))")
  "$SAMLA" -c "$dir/samla.toml" -q wave run "$wave" --target bench --yes --json > "$dir/killed.json" 2>&1 &
  run_pid=$!
  sleep "$at"
  kill -9 "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  run_pid=
  sleep 0.5   # requests already on the wire land in the tenant
  python3 bench/tenant.py writes "$dir/tenant.json" > "$dir/writes-1.json"
  read -r wall _ < <(timed "$dir/run.json" "$dir/time.txt" "$SAMLA" -c "$dir/samla.toml" wave run "$wave" --target bench --yes --json)
  python3 bench/tenant.py writes "$dir/tenant.json" > "$dir/writes-2.json"
  python3 bench/tenant.py dump "$dir/tenant.json" "$dir/dump.json"
  read -r _ _ _ _ _ dupes same diff < <(python3 bench/tenant.py compare "$dir/dump.json" "$clean_dump")
  read -r ok throttled < <(python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); print("yes" if d["ok"] else "no", d["tenant"]["graph"]["throttled"])' "$dir/run.json")
  stop_tenants
  before=$(( $(count "$dir/writes-1.json") - $(count "$dir/writes-0.json") ))
  after=$(( $(count "$dir/writes-2.json") - $(count "$dir/writes-1.json") ))
  rows+=("$(python3 - "$p" "$at" "$before" "$after" "$minimal" "$wall" "$clean_wall" "$throttled" "$dupes" "$same" "$ok" <<'PY'
import sys
p, at, before, after, minimal, wall, clean, throttled, dupes, same, ok = sys.argv[1:]
before, after, minimal = int(before), int(after), int(minimal)
wall, clean = float(wall), float(clean)
repeated = before + after - minimal
remaining = 1 - before / minimal
expected = remaining * clean
print(f"| {p} % ({at} s) | {before} ({100 * before / minimal:.1f} %) | {after} | {repeated} | {100 * repeated / minimal:.2f} % "
      f"| {dupes} | {same} | {ok} | {throttled} | {wall:.2f} | {expected:.2f} | {wall / expected if expected > 0 else float('nan'):.2f} |")
PY
)")
done

mkdir -p bench/results
out="bench/results/resume-$(date +%Y%m%d-%H%M).md"
{
  echo "# samla wave run killed (SIGKILL) and run again, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(machine)"
  echo "Command: bash bench/resume.sh $SCALE $TIME_SCALE $MAX_USERS \"$KILLS\" (budget 3,000 writes per 150 s, time-scaled: window $window s)"
  echo "Wave: $wave, $accounts accounts; clean run: $minimal writes admitted (the minimal writes), wall $clean_wall s"
  echo
  echo "| killed at | writes before the kill | writes by the re-run | repeated writes | repeated share | duplicated objects | same content as the clean run | re-run ok | re-run throttled (429) | re-run wall [s] | remaining share x clean wall [s] | resume ratio |"
  echo "|:---|---:|---:|---:|---:|---:|:---|:---|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
