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
  echo "$users $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
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

# big_wave_project DIR SCALE: a project (as `project`) mapped and planned with limits wide
# enough for one wave of about 10,000 accounts. Prints "WAVE_NUMBER ACCOUNTS" of its largest wave.
big_wave_project() {
  local dir=$1 scale=$2
  project "$dir" "$scale" >/dev/null
  sed -i 's/^max_users = .*/max_users = 10000/; s/^max_municipalities = .*/max_municipalities = 5/; s/^max_units = .*/max_units = 1000/' "$dir/mappings/plan.toml"
  "$SAMLA" -c "$dir/samla.toml" map -q > /dev/null || true
  "$SAMLA" -c "$dir/samla.toml" plan -q --json > "$dir/plan.json"
  python3 -c '
import json,sys
w = max(json.load(open(sys.argv[1]))["waves"], key=lambda w: sum(w["accounts"].values()))
print(w["number"], sum(w["accounts"].values()))' "$dir/plan.json"
}
