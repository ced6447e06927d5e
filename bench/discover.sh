#!/bin/bash
# bench/discover.sh -- reading speed and memory: `samla discover` against five parallel
# `ldapsearch -E pr=1000/noprompt` runs into /dev/null, side by side in one hyperfine run.
#
# Usage: bash bench/discover.sh [SCALE]      (default 35.7: about 5 x 50,000 users)
# Needs: slapd, ldap-utils, hyperfine, /usr/bin/time (apt-get install slapd ldap-utils hyperfine time).
# Writes bench/results/discover-<date>.md and prints it; copy the figures into bench/RESULTS.md.
#
# Both sides read the same thing: the five suffixes of one slapd on loopback (plain LDAP, as
# the reference reader), the same filter and attribute list, 1,000 entries a page. samla also
# converts every entry, writes it into the SQLite state and hashes the snapshot; ldapsearch
# only prints LDIF to /dev/null. The comparison is a ratio from one run, never an absolute
# time in a test.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-35.7}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/samla-bench}
IDS="bjuv klippan perstorp astorp orkelljunga"
export SLAPD_ROOT="$WORK/slapd" SLAPD_PORT=${BENCH_PORT:-3990} SLAPD_TLS_PORT=${BENCH_TLS_PORT:-6990} SLAPD_PASS=secret
URL="ldap://127.0.0.1:$SLAPD_PORT"
for c in slapd ldapsearch hyperfine /usr/bin/time; do command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }; done

cargo build --release -q
SAMLA=$PWD/target/release/samla
mkdir -p "$WORK" bench/results
trap 'bash tests/directory/slapd.sh down' EXIT
bash tests/directory/slapd.sh up >/dev/null
if [ ! -f "$WORK/estate-$SCALE/orkelljunga.ldif" ]; then
  "$SAMLA" estate generate --flavor slapd --scale "$SCALE" --out "$WORK/estate-$SCALE" >/dev/null
fi
args=(); for id in $IDS; do args+=("$WORK/estate-$SCALE/$id.ldif" "$id"); done
t0=$(date +%s); bash tests/directory/slapd.sh load "${args[@]}"; echo "loaded in $(( $(date +%s) - t0 )) s" >&2

# The same filter and attributes samla asks for (src/model/convert.rs).
FILTER=$(grep -o '"(|(&(objectClass=user).*"' src/model/convert.rs | tr -d '"')
ATTRS=$(sed -n '/^pub const ATTRIBUTES/,/^];/p' src/model/convert.rs | grep -o '"[A-Za-z0-9]*"' | tr -d '"' | tr '\n' ' ')
{
  echo "[state]"; echo "path = \"$WORK/state/samla.db\""
  for id in $IDS; do
    printf '\n[[source]]\nname = "%s"\n[source.ldap]\nurl = "%s"\ntls = "plain"\nbase_dn = "dc=%s,dc=test"\nbind_dn = "cn=admin,dc=%s,dc=test"\npassword_env = "SLAPD_PASS"\n' "$id" "$URL" "$id" "$id"
  done
} > "$WORK/samla.toml"
cat > "$WORK/ldapsearch5.sh" <<EOS
#!/bin/bash
pids=()
for id in $IDS; do
  ldapsearch -x -LLL -H $URL -D cn=admin,dc=\$id,dc=test -w secret -b dc=\$id,dc=test -E pr=1000/noprompt '$FILTER' $ATTRS > /dev/null & pids+=(\$!)
done
for p in "\${pids[@]}"; do wait "\$p"; done
EOS
chmod +x "$WORK/ldapsearch5.sh"

count=$("$SAMLA" -c "$WORK/samla.toml" discover --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(r["snapshot"]["users"] for r in d), sum(r["snapshot"]["users"]+r["snapshot"]["groups"]+r["snapshot"]["contacts"]+r["snapshot"]["ous"] for r in d))')
out="bench/results/discover-$(date +%Y%m%d-%H%M).md"
hyperfine --time-unit second --warmup 1 --runs ${RUNS:-5} --export-markdown "$WORK/hyperfine.md" \
  --prepare "rm -rf $WORK/state" \
  -n "samla discover (5 sources)" "SLAPD_PASS=secret $SAMLA -q -c $WORK/samla.toml discover" \
  -n "5 x ldapsearch -E pr=1000" "$WORK/ldapsearch5.sh" >&2
rm -rf "$WORK/state"
/usr/bin/time -v "$SAMLA" -q -c "$WORK/samla.toml" discover 2> "$WORK/time.txt" >/dev/null
rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt")
{
  echo "# samla discover vs 5 x ldapsearch, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(slapd -VV 2>&1 | head -1 | sed 's/^.*slapd //; s/ .*//') slapd"
  echo "Directory: scale $SCALE, users and objects read in all: $count"
  echo "Command: bash bench/discover.sh $SCALE"
  echo
  cat "$WORK/hyperfine.md"
  echo
  echo "Peak memory of samla discover (/usr/bin/time -v, maximum resident set): $((rss / 1024)) MiB"
} | tee "$out"
