#!/bin/bash
# tests/run.sh -- the one test command: `bash tests/run.sh [extra cargo test args]`.
#
# On a fresh Debian 12 (as root) it installs slapd, Samba, ldap-utils, openssl, Chromium with
# chromedriver and fonts-liberation (for the report rendering tests) and g++ (for the fuzzing
# smoke) if missing (one `apt-get update` first;
# policy-rc.d keeps the packaged daemons from starting on all interfaces),
# builds samla, starts the real test directories (tests/directory/slapd.sh and samba.sh), generates
# the sample estate with `samla estate generate` and loads it into them, runs
# `cargo test --all-targets "$@"`, then the fuzzing smoke (`bash fuzz/smoke.sh`, 10 s per target;
# SAMLA_FUZZ_SECONDS sets it, 0 skips it), and always stops the servers on the way out (success, failure,
# Ctrl-C). The exit code is cargo test's, or the smoke's when the tests passed. Rust (cargo) must already be installed.
#
# Environment exported to the tests (the integration tests read these):
#   SAMLA_TEST_SERVERS=1
#   SAMLA_TEST_SLAPD_URL=ldap://127.0.0.1:3890          one slapd, suffix dc=<id>,dc=test per municipality
#   SAMLA_TEST_SLAPD_LDAPS_URL=ldaps://127.0.0.1:6360    (StartTLS on the plain URL works too)
#   SAMLA_TEST_SLAPD_CA=<file>                           CA of slapd's certificate (IP:127.0.0.1, DNS:localhost)
#   SAMLA_TEST_SLAPD_PASSWORD=secret                     for rootdn cn=admin,dc=<id>,dc=test (no limits);
#                                                        cn=reader,dc=<id>,dc=test / reader has AD-like
#                                                        limits (1000 per page)
#   SAMLA_TEST_SAMBA_CA=<file>                           CA of every Samba DC's certificate
#   SAMLA_TEST_SAMBA_PASSWORD=<password>                 for Administrator@<ID>.TEST; municipality i
#                                                        (bjuv klippan perstorp astorp orkelljunga, i=1..5)
#                                                        is DC<i> at ldap(s)://127.0.0.<i+1>, base DC=<id>,DC=test
#   SAMLA_TEST_SHARED_URL=ldaps://127.0.0.7              the shared domain SAMVERKAN.TEST (DC6, same CA and
#   SAMLA_TEST_SHARED_BASE=DC=samverkan,DC=test          password), left empty: tests write waves into it below
#   SAMLA_TEST_SHARED_BIND=Administrator@SAMVERKAN.TEST  their own OUs and delete them afterwards
#   SAMLA_TEST_ESTATE_DIR=<dir>                          the LDIFs that were loaded: <dir>/slapd/<id>.ldif,
#                                                        <dir>/samba/<id>.ldif
#   SAMLA_TEST_SCALE=<f>                                 estate scale used (default 1.0)
#   SAMLA_TEST_CHROMEDRIVER=<file>                       chromedriver, for tests that render reports in
#                                                        headless Chromium (it listens on 127.0.0.1 only)
# Inputs (optional): SAMLA_TEST_SCALE (estate scale), SAMLA_TEST_WORK (server data and estate;
# default ${TMPDIR:-/tmp}/samla-test), SAMLA_TEST_ESTATE_DIR (if set, load the LDIFs already there
# instead of generating them).
# Concurrent runs on one machine wait for each other (flock): they share ports.
# Measured (shared 2-core Debian 12, 2026-11, packages present, build warm): slapd up 0.3 s, Samba up
# 14-43 s (idle vs. busy machine), estate generation 0.5 s, loading both (in parallel) 16-21 s;
# the whole script, with cargo test --all-targets and the fuzzing smoke, about 20-30 min on two cores. At --scale 5 (35,700 entries) loading took slapd 7 s,
# Samba 75 s (~480 adds/s over five DCs), so Samba would need ~35 min for a million: keep CI at 1.0.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=tests/directory
IDS="bjuv klippan perstorp astorp orkelljunga"
WORK=${SAMLA_TEST_WORK:-${TMPDIR:-/tmp}/samla-test}
SCALE=${SAMLA_TEST_SCALE:-1.0}
export SLAPD_PASS=${SLAPD_PASS:-secret} SAMBA_PASS=${SAMBA_PASS:-'Passw0rd!Test'}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"
log() { printf '[run.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
mkdir -p "$WORK"
exec 9> "$WORK/lock"
flock -n 9 || { log "another tests/run.sh holds $WORK/lock; waiting"; flock 9; }

missing=
for c in slapd samba ldapsearch ldapadd openssl chromium chromedriver g++; do
  command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "missing:$missing (run as root to install them)" >&2; exit 1; }
  t=$(now); log "installing (missing:$missing)"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  bash $DIR/slapd.sh install; bash $DIR/samba.sh install
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-liberation g++
  log "installed in $(took "$t")"
fi

t=$(now); cargo build; log "cargo build: $(took "$t")"

stop_servers() {
  local rc=$?; set +e; trap - EXIT INT TERM
  SAMBA_ROOT="$WORK/samba" bash $DIR/samba.sh down; SLAPD_ROOT="$WORK/slapd" bash $DIR/slapd.sh down
  log "servers stopped"; exit $rc
}
trap stop_servers EXIT; trap 'exit 130' INT; trap 'exit 143' TERM

t=$(now); SLAPD_ROOT="$WORK/slapd" bash $DIR/slapd.sh up 9>&-; log "slapd up: $(took "$t")"
t=$(now); SAMBA_ROOT="$WORK/samba" bash $DIR/samba.sh up 9>&-; log "samba up: $(took "$t")"

if [ -n "${SAMLA_TEST_ESTATE_DIR:-}" ]; then
  ESTATE=$(cd "$SAMLA_TEST_ESTATE_DIR" && pwd); log "loading the given estate in $ESTATE"
else
  ESTATE="$WORK/estate"; rm -rf "$ESTATE"; t=$(now)
  for flavor in slapd samba; do
    target/debug/samla estate generate --flavor $flavor --out "$ESTATE/$flavor" --scale "$SCALE"
  done
  log "estate generated (scale $SCALE): $(took "$t")"
fi
slapd_args=(); samba_args=()
for id in $IDS; do slapd_args+=("$ESTATE/slapd/$id.ldif" "$id"); samba_args+=("$ESTATE/samba/$id.ldif" "$id"); done
t=$(now)   # both servers at once, each municipality in parallel inside each
SLAPD_ROOT="$WORK/slapd" bash $DIR/slapd.sh load "${slapd_args[@]}" & slapd_pid=$!
SAMBA_ROOT="$WORK/samba" bash $DIR/samba.sh load "${samba_args[@]}" & samba_pid=$!
load_rc=0
wait $slapd_pid && log "slapd loaded: $(took "$t")" || load_rc=1
wait $samba_pid && log "samba loaded: $(took "$t")" || load_rc=1
[ $load_rc -eq 0 ] || { log "loading the estate failed"; exit 1; }

export SAMLA_TEST_SERVERS=1 \
  SAMLA_TEST_SLAPD_URL=ldap://127.0.0.1:3890 SAMLA_TEST_SLAPD_LDAPS_URL=ldaps://127.0.0.1:6360 \
  SAMLA_TEST_SLAPD_CA="$WORK/slapd/ca.pem" SAMLA_TEST_SLAPD_PASSWORD="$SLAPD_PASS" \
  SAMLA_TEST_SAMBA_CA="$WORK/samba/ca.pem" SAMLA_TEST_SAMBA_PASSWORD="$SAMBA_PASS" \
  SAMLA_TEST_SHARED_URL=ldaps://127.0.0.7 SAMLA_TEST_SHARED_BASE=DC=samverkan,DC=test \
  SAMLA_TEST_SHARED_BIND=Administrator@SAMVERKAN.TEST \
  SAMLA_TEST_ESTATE_DIR="$ESTATE" SAMLA_TEST_SCALE="$SCALE" \
  SAMLA_TEST_CHROMEDRIVER="$(command -v chromedriver)"
t=$(now); rc=0
cargo test --all-targets "$@" || rc=$?
log "cargo test: $(took "$t"), exit $rc"
# The fuzzing smoke (fuzz/README.md): every cargo-fuzz target for a few seconds on its seeds,
# stable toolchain only. SAMLA_FUZZ_SECONDS=0 skips it (for quick runs of a few tests).
if [ "${SAMLA_FUZZ_SECONDS:-10}" != 0 ]; then
  t=$(now); fuzz_rc=0
  bash fuzz/smoke.sh "${SAMLA_FUZZ_SECONDS:-10}" || fuzz_rc=$?
  log "fuzz smoke: $(took "$t"), exit $fuzz_rc"
  [ $rc -ne 0 ] || rc=$fuzz_rc
fi
exit $rc
