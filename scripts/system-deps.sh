#!/usr/bin/env bash
# The Debian packages `make test` needs beyond Node and npm: PostgreSQL 15's server (the cleanup
# tests start their own), Chromium (the status page's browser test) and openssl (the TLS tests
# make their own certificate authority). Installs what is missing when run as root with apt;
# otherwise names it and stops.
set -euo pipefail

pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
missing=()
[ -x "$pg_bin/initdb" ] || missing+=(postgresql-15)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "--- installing ${missing[*]} (Debian packages the tests need)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi

echo "make test needs the Debian packages ${missing[*]}: install them with 'sudo apt-get install -y ${missing[*]}' and run it again" >&2
exit 1
