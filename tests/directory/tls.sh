# tls.sh -- sourced by slapd.sh and samba.sh: throw-away certificates made with openssl.
#   tls_ca DIR                 -> DIR/ca.pem, DIR/ca.key (a fresh CA, valid 30 days)
#   tls_cert DIR NAME SAN      -> DIR/NAME.pem, DIR/NAME.key signed by DIR/ca.*; SAN e.g. "IP:127.0.0.1,DNS:localhost"
# P-256 keys (instant to make; GnuTLS in slapd/Samba and rustls all accept them). The server
# certificate is a proper v3 end-entity (CA:FALSE, serverAuth, SAN) so that strict clients
# (rustls/webpki) verify it, not only OpenLDAP's own tools. Keys are 0600 (Samba insists).

tls_ca() {
  local dir=$1
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/O=samla tests/CN=samla throw-away test CA $(date +%s)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  chmod 600 "$dir/ca.key"
}

tls_cert() {
  local dir=$1 name=$2 san=$3 cn=${3#*:}; cn=${cn%%,*}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=samla tests/CN=$cn" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -out "$dir/$name.pem" -extfile <(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=$san") 2>/dev/null
  chmod 600 "$dir/$name.key"; rm -f "$dir/$name.csr"
}
