#!/bin/bash
# samba.sh -- throw-away Samba 4.17 AD DCs (Debian 12) for samla's integration tests: one domain per
# municipality, plus the cooperation's shared domain (empty) that waves are written into. No systemd.
# Adapted from the measured reference in shared/reference/test-directories.
#
# Usage (as root): samba.sh install | up [DOMAIN]... | load FILE DOMAIN [FILE DOMAIN]... | down
# Settings: SAMBA_ROOT (data, certificates, logs; default ${TMPDIR:-/tmp}/samla-samba, called $ROOT below),
#   DOMAINS (the municipalities), SHARED (the shared domain), SAMBA_PASS, SAMBA_IP_BASE.
#   The DCs are numbered 1..n in "$DOMAINS $SHARED" order; DC i listens on 127.0.0.$((SAMBA_IP_BASE+i))
#   only (SAMBA_IP_BASE defaults to 1: the municipalities are 127.0.0.2-6 and SAMVERKAN is 127.0.0.7,
#   as the tests expect; another base runs a second set beside one already running, e.g. to measure).
#   up    provisions and starts the named DCs (default: all of them, in parallel) on their addresses:
#         389 ldap (+StartTLS), 636 ldaps, 3268/3269 GC, 88/464 kerberos, 389/udp cldap.
#         Realm <NAME>.TEST, NetBIOS domain <NAME>, base DC=<name>,DC=test, host DC<i>.
#         TLS: Samba's self-signed certificate is replaced by one from a throw-away CA ($ROOT/ca.pem),
#         subjectAltName IP:127.0.0.<base+i>, DNS:dc<i>.<name>.test.
#         Schema: Exchange's extensionAttribute1-15 (Microsoft's OIDs) are added and allowed on user,
#         contact, group and organizationalUnit, as on a hybrid (Exchange/Microsoft 365) AD; written
#         into the provisioned database before the first start (Samba's own Python bindings, the
#         same schema entries as ldapadd of `exchange_schema` would make, in fewer transactions).
#         The shared domain (SHARED, default SAMVERKAN: DC6, 127.0.0.7) is provisioned like the others
#         and left empty: tests create (and delete) what they write into it.
#   load  ldapadd (no -c: the first error fails the load, with the log) each FILE into the DC of
#         DOMAIN (BJUV or bjuv), all pairs in parallel, bound as Administrator@<NAME>.TEST.
#   down  stops the DCs.
# Bind as Administrator@<NAME>.TEST, <NAME>\Administrator or CN=Administrator,CN=Users,DC=<name>,DC=test,
# password $SAMBA_PASS (default Passw0rd!Test).
#   LDAPTLS_CACERT=$ROOT/ca.pem ldapsearch -H ldaps://127.0.0.2 ...   (or -H ldap://127.0.0.2 -ZZ)
# Samba returns referrals to its realm's DNS name: turn referral chasing off in clients.
#
# Measured on the shared 2-core Debian 12 development machine (2026-11):
#   install: ~31 s (reference figure: apt-get install of the packages below; they were present here)
#   up:      provisions with the schema extension in parallel, certificates, start, first bind.
#            Five DCs with the schema extended over LDAP after the start (the earlier version):
#            14-16 s idle, 23-43 s while other cargo builds shared the CPUs. Alternated runs with a
#            cargo build beside them (load 2-4): that version 16.1-17.4 s; this one 14.2-14.4 s for
#            the five (SHARED=), 16.9-19.4 s for all six; the shared DC alone (`up samverkan`) 4.1-4.6 s.
#            Per DC ~3 s CPU provisioning, 0.7 s schema (1.6 s over LDAP), ~0.5 s start.
#   load:    16-21 s for the default sample estate (scale 1.0: 7,444 entries, five DCs in parallel)
set -euo pipefail
ROOT=${SAMBA_ROOT:-${TMPDIR:-/tmp}/samla-samba}
DOMAINS=${DOMAINS:-"BJUV KLIPPAN PERSTORP ASTORP ORKELLJUNGA"}   # NetBIOS names (<=15 chars); realm = <NAME>.TEST
SHARED=${SHARED-SAMVERKAN}   # the shared domain, after the municipalities (SHARED= for none)
ALL="$DOMAINS $SHARED"
IP_BASE=${SAMBA_IP_BASE:-1}
PASS=${SAMBA_PASS:-'Passw0rd!Test'}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tls.sh"

lower() { echo "$1" | tr 'A-Z' 'a-z'; }
upper() { echo "$1" | tr 'a-z' 'A-Z'; }
base_of() { echo "DC=$(lower "$1"),DC=test"; }
alive() { local st; [ -r "/proc/$1/stat" ] && read -r _ _ st _ < "/proc/$1/stat" && [ "$st" != Z ]; }
index_of() {  # 1-based position of a domain (any case) in $DOMAINS $SHARED
  local i=0 d; for d in $ALL; do i=$((i+1)); [ "$d" = "$(upper "$1")" ] && { echo $i; return; }; done
  echo "unknown domain $1 (DOMAINS=$DOMAINS SHARED=$SHARED)" >&2; return 1
}
ip_of() { echo "127.0.0.$((IP_BASE + $1))"; }
exchange_schema() {  # Exchange's extensionAttribute1-15 (not in Samba's base AD schema), as on hybrid ADs
  local base=$1 n oid cls; local S="CN=Schema,CN=Configuration,$base"
  for n in $(seq 1 15); do
    oid=$([ "$n" -le 10 ] && echo $((422 + n)) || echo $((588 + n)))
    printf 'dn: CN=ms-Exch-Extension-Attribute-%s,%s\nobjectClass: top\nobjectClass: attributeSchema\n' "$n" "$S"
    printf 'attributeID: 1.2.840.113556.1.2.%s\nlDAPDisplayName: extensionAttribute%s\n' "$oid" "$n"
    printf 'attributeSyntax: 2.5.5.12\noMSyntax: 64\nisSingleValued: TRUE\nrangeLower: 1\nrangeUpper: 1024\n\n'
  done
  printf 'dn:\nchangetype: modify\nadd: schemaUpdateNow\nschemaUpdateNow: 1\n-\n\n'
  for cls in User Contact Group Organizational-Unit; do
    printf 'dn: CN=%s,%s\nchangetype: modify\nadd: mayContain\n' "$cls" "$S"
    for n in $(seq 1 15); do printf 'mayContain: extensionAttribute%s\n' "$n"; done; printf -- '-\n\n'
  done
  printf 'dn:\nchangetype: modify\nadd: schemaUpdateNow\nschemaUpdateNow: 1\n-\n\n'
}
down() {
  local p pid
  for p in "$ROOT"/dc*/samba.pid; do
    [ -f "$p" ] || continue; pid=$(cat "$p"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.2; done; rm -f "$p"
  done
}
case "${1:-}" in
install)  # policy-rc.d (exit 101) keeps postinst from starting smbd/nmbd/samba-ad-dc on all interfaces
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldap-utils ldb-tools openssl ;;
up)
  shift; doms=(); idx=()   # the DCs to start: the named ones, or all
  for DOM in ${*:-$ALL}; do i=$(index_of "$DOM"); doms+=("$(upper "$DOM")"); idx+=("$i"); done
  down; rm -rf "$ROOT"; mkdir -p "$ROOT"; tls_ca "$ROOT"; pids=()
  for k in "${!doms[@]}"; do   # provision all in parallel (~3.5 s of CPU each, with the schema)
    DOM=${doms[$k]}; i=${idx[$k]}; D=$ROOT/dc$i; IP=$(ip_of "$i"); mkdir -p "$D/run" "$D/log" "$D/tls"
    tls_cert "$ROOT" "dc$i" "IP:$IP,DNS:dc$i.$(lower "$DOM").test"; mv "$ROOT/dc$i.pem" "$ROOT/dc$i.key" "$D/tls/"
    ( /usr/bin/samba-tool domain provision --targetdir="$D" --realm="$DOM.TEST" --domain="$DOM" \
        --server-role=dc --dns-backend=NONE --backend-store=mdb --adminpass="$PASS" \
        --host-name="DC$i" --host-ip="$IP" \
        --option="interfaces=$IP/8" --option="bind interfaces only=yes" --option="disable netbios=yes" \
        --option="server services=ldap cldap kdc" --option="log file=$D/log/samba.log" \
        --option="dns update command=/bin/true" --option="spn update command=/bin/true" \
        --option="pid directory=$D/run" --option="ncalrpc dir=$D/run/ncalrpc" \
        --option="ntp signd socket directory=$D/run/ntp_signd" \
        --option="winbindd socket directory=$D/run/winbindd" > "$D/provision.log" 2>&1 ||
        { echo "provision of $DOM failed:" >&2; tail -20 "$D/provision.log" >&2; exit 1; }
      # provision silently drops 'ldap server require strong auth', so add it (and no-fsync, and our
      # certificate instead of the self-signed one Samba would make at first start) afterwards
      sed -i "/^\[global\]/a\\
	ldap server require strong auth = no\\
	ldb:nosync = true\\
	dsdb:schema update allowed = true\\
	tls enabled = yes\\
	tls keyfile = $D/tls/dc$i.key\\
	tls certfile = $D/tls/dc$i.pem\\
	tls cafile = $ROOT/ca.pem" "$D/etc/smb.conf"
      # extend the schema offline, before the first start: a few transactions instead of one per
      # schema object over LDAP (0.7 s instead of 1.6 s of CPU per DC), inside the parallel phase
      exchange_schema "$(base_of "$DOM")" > "$D/schema.ldif"
      /usr/bin/python3 - "$D/etc/smb.conf" "$D/schema.ldif" > "$D/schema.log" 2>&1 <<'PY' ||
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
db.transaction_start()
for rec in open(sys.argv[2]).read().split("\n\n"):
    if not rec.strip():
        continue
    if rec.startswith("dn:\n"):  # schemaUpdateNow: commit, so that what follows sees the new schema
        db.transaction_commit()
        db.modify_ldif(rec)
        db.transaction_start()
    elif "\nchangetype: modify\n" in rec:
        db.modify_ldif(rec)
    else:
        db.add_ldif(rec)
db.transaction_commit()
PY
        { echo "schema extension of $DOM failed:" >&2; tail -5 "$D/schema.log" >&2; exit 1; }
    ) & pids+=($!)
  done
  rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; [ $rc -eq 0 ] || exit 1
  for i in "${idx[@]}"; do   # -M single: one process per DC (~45 MB) instead of 23 (prefork)
    D=$ROOT/dc$i
    samba -s "$D/etc/smb.conf" -F --no-process-group -M single > "$D/samba.stdout" 2>&1 &
    echo $! > "$D/samba.pid"
  done
  for k in "${!doms[@]}"; do
    DOM=${doms[$k]}; i=${idx[$k]}; IP=$(ip_of "$i"); ok=
    for _ in $(seq 1 300); do   # up to 60 s; an authenticated search means really ready
      ldapsearch -x -H "ldap://$IP" -D "Administrator@$DOM.TEST" -w "$PASS" -b "$(base_of "$DOM")" \
        -s base -LLL dn >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2
    done
    [ -n "$ok" ] || { echo "DC$i did not come up" >&2; tail -20 "$ROOT/dc$i/log/samba.log" >&2; exit 1; }
    echo "DC$i $DOM.TEST ldap://$IP ldaps://$IP ready (CA $ROOT/ca.pem)"
  done ;;
load)
  shift; [ $# -gt 0 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: $0 load FILE DOMAIN [FILE DOMAIN]..." >&2; exit 2; }
  pids=(); names=(); logs=()
  while [ $# -gt 0 ]; do
    f=$1; i=$(index_of "$2"); DOM=$(upper "$2"); shift 2; [ -r "$f" ] || { echo "cannot read $f" >&2; exit 1; }
    log="$ROOT/dc$i/load.log"
    ldapadd -x -H "ldap://$(ip_of "$i")" -D "Administrator@$DOM.TEST" -w "$PASS" -f "$f" > "$log" 2> "$log.err" &
    pids+=($!); names+=("$f -> $DOM (ldap://$(ip_of "$i"))"); logs+=("$log")
  done
  rc=0
  for k in "${!pids[@]}"; do   # never a bare wait: a samba started by this shell would block it
    wait "${pids[$k]}" || { rc=1; echo "samba load FAILED: ${names[$k]} (${logs[$k]}):" >&2; tail -2 "${logs[$k]}" >&2; cat "${logs[$k]}.err" >&2; }
  done
  exit $rc ;;
down) down ;;
*) echo "usage: $0 install | up [DOMAIN]... | load FILE DOMAIN [FILE DOMAIN]... | down" >&2; exit 2 ;;
esac
