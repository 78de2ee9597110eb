#!/bin/sh
# A local certificate authority and a server certificate signed by it, for nginx (deploy/nginx).
#   deploy/make-certs.sh [DIRECTORY] [NAME...]   (default: deploy/certs, localhost 127.0.0.1)
# Writes ca.crt/ca.key (the CA: trust ca.crt in your clients) and tls.crt/tls.key (nginx).
# An existing CA in DIRECTORY is reused, so a client that trusts it keeps trusting new certificates.
set -eu
out=${1:-deploy/certs}
[ $# -gt 0 ] && shift
names=${*:-localhost 127.0.0.1}
umask 077
mkdir -p "$out"

san=""
for name in $names; do
    case $name in
        *[!0-9.]*) entry="DNS:$name" ;;
        *) entry="IP:$name" ;;
    esac
    san="${san:+$san,}$entry"
done
first=$(echo "$names" | cut -d' ' -f1)

if [ ! -s "$out/ca.key" ] || [ ! -s "$out/ca.crt" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 -subj "/CN=Kirby local CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/ca.crt"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/tls.key"
openssl req -new -key "$out/tls.key" -subj "/CN=$first" -out "$out/tls.csr"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
    "$san" > "$out/tls.ext"
# 397 days: the longest validity browsers accept for a server certificate.
openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 397 -sha256 -extfile "$out/tls.ext" -out "$out/tls.crt" 2>/dev/null
rm -f "$out/tls.csr" "$out/tls.ext" "$out/ca.srl"
# nginx's master process reads the key as root; the certificates are public.
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "made $out/tls.crt for: $names (CA: $out/ca.crt)"
