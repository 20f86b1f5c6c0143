#!/usr/bin/env bash
# Make a private CA, a broker (server) certificate and a client certificate for
# amqps with peer verification (docs/deployment.md#tls).  For development and
# tests only: production certificates come from your real CA.
#
# Usage: deploy/tls/gen-certs.sh OUT_DIR [EXTRA_SERVER_NAME...]
#   OUT_DIR gets ca.pem, server.pem, server.key, client.pem, client.key.
#   The server certificate covers localhost, 127.0.0.1, the compose/cluster host
#   names (rabbitmq, rabbitmq-haproxy, rabbitmq1..3) and any EXTRA_SERVER_NAME.
set -euo pipefail

out=${1:?usage: gen-certs.sh OUT_DIR [EXTRA_SERVER_NAME...]}
shift
mkdir -p "$out"
cd "$out"

san="DNS:localhost,IP:127.0.0.1,DNS:rabbitmq,DNS:rabbitmq-haproxy,DNS:rabbitmq1,DNS:rabbitmq2,DNS:rabbitmq3"
for name in "$@"; do san="$san,DNS:$name"; done

# P-256 keys: quick to make, and supported by Erlang/OTP and Python's ssl alike.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

newkey ca.key
openssl req -x509 -new -key ca.key -sha256 -days 825 -subj "/CN=BookmarkAI ML test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem

sign() {  # sign NAME SUBJECT EXTENSIONS
  newkey "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 825 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sign server "/CN=rabbitmq" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
sign client "/CN=bookmarkai-ml" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

rm -f ca.srl
# The CA key stays private; the service keys must be readable by the container
# users (rabbitmq, ml) that mount this directory.  Development certificates only.
chmod 600 ca.key
chmod 644 server.key client.key
echo "certificates written to $out"
