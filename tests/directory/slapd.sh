#!/bin/bash
# slapd.sh -- throw-away OpenLDAP 2.5 (Debian 12) for samla's integration tests: one server, one mdb
# database per municipality, AD-lite schema (ad-lite.schema next to this script) + memberof overlay.
# Adapted from the measured reference in shared/reference/test-directories. No systemd; root only to install.
#
# Usage: slapd.sh install | up | load FILE SUFFIX [FILE SUFFIX]... | down
# Settings: SLAPD_ROOT (data, certificates, logs; default ${TMPDIR:-/tmp}/samla-slapd, called $ROOT below),
#   SLAPD_PORT (3890), SLAPD_TLS_PORT (6360), SUFFIXES, SLAPD_PASS.
#   install  apt-get install slapd ldap-utils openssl (policy-rc.d keeps the packaged slapd from starting)
#   up       (re)creates $ROOT, makes a CA + server certificate, starts slapd on
#              ldap://127.0.0.1:$PORT (StartTLS too) and ldaps://127.0.0.1:$TLS_PORT,
#            and creates each suffix entry dc=<s>,dc=test (domain + adObject) and cn=reader under it.
#   load     ldapadd (no -c: the first error fails the load, with the log) each FILE into its SUFFIX,
#            all pairs in parallel. SUFFIX is a label (bjuv) or a DN (dc=bjuv,dc=test). The FILE holds
#            what lies below the suffix entry (which `up` created); a changetype: modify record is fine.
#   down     stops slapd (the data stays in $ROOT until the next `up`).
# Accounts per suffix:
#   rootdn  cn=admin,dc=<s>,dc=test / $SLAPD_PASS (default secret; no limits)
#   reader  cn=reader,dc=<s>,dc=test / reader (organizationalRole, not a user; AD-like limits:
#           1000 entries per page, 1000 for a non-paged search)
# TLS: $ROOT/ca.pem is the CA to trust; the server certificate names IP:127.0.0.1 and DNS:localhost.
#   LDAPTLS_CACERT=$ROOT/ca.pem ldapsearch -H ldaps://127.0.0.1:6360 ...   (or -H ldap://127.0.0.1:3890 -ZZ)
#
# Measured on the shared 2-core Debian 12 development machine (2026-11; other builds running):
#   install: ~4 s (reference figure: `apt-get install slapd ldap-utils`; the packages were present here)
#   up:      0.2-0.3 s (CA + certificate ~0.05 s, slapd start ~0.05 s, five suffix entries + readers)
#   load:    1.4-4 s for the default sample estate (scale 1.0: 7,474 entries, ~20,000 member
#            values, five suffixes in parallel)
set -euo pipefail
ROOT=${SLAPD_ROOT:-${TMPDIR:-/tmp}/samla-slapd}; PORT=${SLAPD_PORT:-3890}; TLS_PORT=${SLAPD_TLS_PORT:-6360}
URI="ldap://127.0.0.1:$PORT"; LDAPS_URI="ldaps://127.0.0.1:$TLS_PORT"
SUFFIXES=${SUFFIXES:-"bjuv klippan perstorp astorp orkelljunga"}; PASS=${SLAPD_PASS:-secret}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tls.sh"

alive() { local st; [ -r "/proc/$1/stat" ] && read -r _ _ st _ < "/proc/$1/stat" && [ "$st" != Z ]; }
start() {
  slapd -f "$ROOT/slapd.conf" -h "$URI/ $LDAPS_URI/" -d 0 > "$ROOT/slapd.log" 2>&1 &
  for _ in $(seq 1 250); do
    ldapsearch -x -H "$URI" -b '' -s base 1.1 >/dev/null 2>&1 && return; sleep 0.02
  done
  echo "slapd did not start" >&2; cat "$ROOT/slapd.log" >&2; exit 1
}
stop() {
  [ -f "$ROOT/slapd.pid" ] || return 0; local pid; pid=$(cat "$ROOT/slapd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
  rm -f "$ROOT/slapd.pid"
}
suffix_dn() { case "$1" in *=*) echo "$1";; *) echo "dc=$1,dc=test";; esac; }

case "${1:-}" in
install)  # policy-rc.d (exit 101) keeps postinst from starting the packaged slapd on ldap:/// (all interfaces)
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slapd ldap-utils openssl ;;
up)
  stop; rm -rf "$ROOT"; mkdir -p "$ROOT/tls"
  tls_ca "$ROOT/tls"; cp "$ROOT/tls/ca.pem" "$ROOT/ca.pem"
  tls_cert "$ROOT/tls" server "IP:127.0.0.1,DNS:localhost"
  { for s in core cosine inetorgperson; do echo "include /etc/ldap/schema/$s.schema"; done
    echo "include $HERE/ad-lite.schema"
    printf 'access to attrs=userPassword by self =xw by anonymous auth by * none\naccess to * by * read\n'
    printf 'pidfile %s\nargsfile %s\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n' \
      "$ROOT/slapd.pid" "$ROOT/slapd.args"
    printf 'TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n' \
      "$ROOT/ca.pem" "$ROOT/tls/server.pem" "$ROOT/tls/server.key"
    for s in $SUFFIXES; do mkdir -p "$ROOT/db/$s"; cat <<EOC
database mdb
suffix "dc=$s,dc=test"
rootdn "cn=admin,dc=$s,dc=test"
rootpw $PASS
directory $ROOT/db/$s
maxsize 4294967296
dbnosync
index objectClass,sAMAccountName,userPrincipalName,objectGUID,objectSid,member,memberOf,cn,mail eq
limits users size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited time=unlimited
overlay memberof
memberof-group-oc group
memberof-refint true
EOC
    done; } > "$ROOT/slapd.conf"
  start
  for s in $SUFFIXES; do
    printf 'dn: dc=%s,dc=test\nobjectClass: domain\nobjectClass: adObject\ndc: %s\n\n' "$s" "$s"
    printf 'dn: cn=reader,dc=%s,dc=test\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n' "$s"
    printf 'cn: reader\nuserPassword: reader\ndescription: read-only account with AD-like limits\n\n'
  done > "$ROOT/base.ldif"
  for s in $SUFFIXES; do
    sed -n "/^dn: .*dc=$s,dc=test\$/,/^\$/p" "$ROOT/base.ldif" |
      ldapadd -x -H "$URI" -D "cn=admin,dc=$s,dc=test" -w "$PASS" >/dev/null
  done
  echo "slapd up on $URI and $LDAPS_URI (CA $ROOT/ca.pem): $SUFFIXES" ;;
load)
  shift; [ $# -gt 0 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: $0 load FILE SUFFIX [FILE SUFFIX]..." >&2; exit 2; }
  pids=(); names=(); logs=()
  while [ $# -gt 0 ]; do
    f=$1; dn=$(suffix_dn "$2"); shift 2; [ -r "$f" ] || { echo "cannot read $f" >&2; exit 1; }
    log="$ROOT/load-${dn%%,*}.log"; log=${log/=/-}
    ldapadd -x -H "$URI" -D "cn=admin,$dn" -w "$PASS" -f "$f" > "$log" 2> "$log.err" & pids+=($!); names+=("$f -> $dn"); logs+=("$log")
  done
  rc=0
  for k in "${!pids[@]}"; do   # never a bare wait: slapd may be a child of this shell
    wait "${pids[$k]}" || { rc=1; echo "slapd load FAILED: ${names[$k]} (${logs[$k]}):" >&2; tail -2 "${logs[$k]}" >&2; cat "${logs[$k]}.err" >&2; }
  done
  exit $rc ;;
down) stop ;;
*) echo "usage: $0 install | up | load FILE SUFFIX [FILE SUFFIX]... | down" >&2; exit 2 ;;
esac
