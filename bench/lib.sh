# bench/lib.sh -- shared by the benchmark scripts (source it; not run on its own).

IDS="bjuv klippan perstorp astorp orkelljunga"

# One line describing the machine, for the results file.
machine() {
  echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
}

# project DIR SCALE: a fresh project in DIR reading the sample estate's ldifde flavour at SCALE,
# with the repository's mappings, discovered. Prints "USERS DISCOVER_SECONDS". The LDIF is
# removed afterwards (at a million users it is 2 GB).
project() {
  local dir=$1 scale=$2 t0 users
  rm -rf "$dir"; mkdir -p "$dir"
  "$SAMLA" estate generate --flavor ldifde --scale "$scale" --out "$dir/estate" >/dev/null
  { echo '[state]'; echo 'path = "state/samla.db"'
    for id in $IDS; do printf '\n[[source]]\nname = "%s"\nldif = "estate/%s.ldif"\n' "$id" "$id"; done; } > "$dir/samla.toml"
  cp -r mappings "$dir/mappings"
  t0=$(date +%s.%N)
  users=$("$SAMLA" -c "$dir/samla.toml" discover --json \
    | python3 -c 'import json,sys; print(sum(r["snapshot"]["users"] for r in json.load(sys.stdin)))')
  rm -rf "$dir/estate"
  local took; took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # The state's gigabytes reach the disk now, not during the timed run that follows.
  sync
  echo "$users $took"
}

# timed OUT TIME_FILE CMD...: runs CMD under /usr/bin/time -v with stdout to OUT; prints
# "WALL_SECONDS PEAK_RSS_MIB".
timed() {
  local out=$1 tf=$2; shift 2
  /usr/bin/time -v "$@" > "$out" 2> "$tf" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tf" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$tf")
  echo "$wall $rss"
}

# big_wave_project DIR SCALE [MAX_USERS]: a project (as `project`) mapped and planned with limits
# wide enough for one wave of about MAX_USERS (default 10,000) accounts. Prints "WAVE_NUMBER
# ACCOUNTS" of its largest wave.
big_wave_project() {
  local dir=$1 scale=$2 max=${3:-10000}
  project "$dir" "$scale" >/dev/null
  sed -i "s/^max_users = .*/max_users = $max/; s/^max_municipalities = .*/max_municipalities = 5/; s/^max_units = .*/max_units = 1000/" "$dir/mappings/plan.toml"
  "$SAMLA" -c "$dir/samla.toml" map -q > /dev/null || true
  "$SAMLA" -c "$dir/samla.toml" plan -q --json > "$dir/plan.json"
  python3 -c '
import json,sys
w = max(json.load(open(sys.argv[1]))["waves"], key=lambda w: sum(w["accounts"].values()))
print(w["number"], sum(w["accounts"].values()))' "$dir/plan.json"
}

# budget_use BEFORE_JSON AFTER_JSON LIMIT WINDOW: how well the writes that arrived between two
# `python3 bench/tenant.py writes` readings used a sliding-window budget of LIMIT writes per WINDOW Graph
# seconds. Prints "WRITES SPAN MINIMUM SHARE FILL_MIN FILL_MEAN":
# - SPAN: Graph seconds from the first write's arrival to the last's;
# - MINIMUM: the least SPAN any client could take for that many writes. In any half-open
#   window-long interval at most LIMIT writes arrive, so W writes span at least
#   (ceil(W / LIMIT) - 1) windows (the first LIMIT at once, the next LIMIT one window later...);
# - SHARE: MINIMUM / SPAN, in percent;
# - FILL_MIN, FILL_MEAN: writes in each whole window counted from the first arrival, as a
#   percentage of LIMIT (the smallest and the mean): the budget used window by window.
budget_use() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, math, sys
before, after = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
limit, window = int(sys.argv[3]), float(sys.argv[4])
w = sorted(after[len(before):])
span = w[-1] - w[0]
minimum = (math.ceil(len(w) / limit) - 1) * window
fills, k = [], 0
while w[0] + (k + 1) * window <= w[-1]:
    lo, hi = w[0] + k * window, w[0] + (k + 1) * window
    fills.append(100 * sum(lo <= x < hi for x in w) / limit)
    k += 1
fills = fills or [0.0]
print(len(w), f"{span:.1f}", f"{minimum:.1f}", f"{100 * minimum / span:.1f}", f"{min(fills):.1f}", f"{sum(fills) / len(fills):.1f}")
PY
}

# start_tenant OUT_JSON TIME_SCALE: starts a fresh `samla test-tenant serve` on 127.0.0.1 (a free
# port) at TIME_SCALE, with the domains and SKUs the sample estate's waves need and the secret in
# $SAMLA_BENCH_SECRET; waits for its JSON line in OUT_JSON. Its pid goes into TENANT_PIDS (stop
# them with stop_tenants, e.g. from a trap).
TENANT_PIDS=()
start_tenant() {
  : "${SAMLA_BENCH_SECRET:=bench-secret-$$}"; export SAMLA_BENCH_SECRET
  "$SAMLA" test-tenant serve --listen 127.0.0.1:0 --time-scale "$2" --client-secret-env SAMLA_BENCH_SECRET \
    --domain samverkan.se --domain elev.samverkan.se \
    --sku SPE_E3=40000 --sku SPE_F1=15000 --sku M365EDU_A3_STUUSEBNFT=25000 > "$1" &
  TENANT_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "test tenant did not start" >&2; return 1
}
stop_tenants() {
  local p
  for p in "${TENANT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${TENANT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  TENANT_PIDS=()
}

# earlier_waves DIR WAVE WINDOW TENANT_JSON OUT: runs waves 1 .. WAVE-1 against target "bench" (the
# big wave refers to their objects), lets one budget window pass (a fresh process does not know
# the writes they left in the tenant's window), and writes the tenant's write log to OUT.
earlier_waves() {
  local w
  for w in $(seq 1 $(($2 - 1))); do
    "$SAMLA" -c "$1/samla.toml" wave run "$w" --target bench --yes --json > "$1/run-$w.json"
  done
  sleep "$3"
  python3 bench/tenant.py writes "$4" > "$5"
}

# add_target DIR TENANT_JSON WINDOW: appends target "bench" (the tenant of TENANT_JSON, budget
# window WINDOW real seconds) and thresholds wide enough for a whole big wave to DIR/samla.toml.
add_target() {
  python3 - "$2" "$3" >> "$1/samla.toml" <<'PY'
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
max_creates = 1000000
max_creates_share = 1.0
''')
PY
}
