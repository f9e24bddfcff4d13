#!/usr/bin/env bash
# Makes the local PostgreSQL usable by ebb's demo and tests, idempotently:
# installs PostgreSQL if it is missing, starts the cluster, and lets the
# current OS user connect as the `postgres` superuser over the Unix socket
# (a peer map), which is how the tests and the demo connect.
set -euo pipefail
# Installing packages and editing the cluster's auth files needs root.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "pg-setup: installing PostgreSQL"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
if [ -z "$version" ]; then
  echo "pg-setup: no PostgreSQL cluster found under /etc/postgresql" >&2
  exit 1
fi
conf=/etc/postgresql/$version/main
me=$(id -un)

changed=0
if ! $sudo grep -Eq "^ebbdev[[:space:]]+$me[[:space:]]+postgres" "$conf/pg_ident.conf"; then
  $sudo grep -Eq "^ebbdev[[:space:]]+postgres[[:space:]]+postgres" "$conf/pg_ident.conf" ||
    printf 'ebbdev          postgres                postgres\n' | $sudo tee -a "$conf/pg_ident.conf" >/dev/null
  printf 'ebbdev          %-23s postgres\n' "$me" | $sudo tee -a "$conf/pg_ident.conf" >/dev/null
  changed=1
fi
if ! $sudo grep -Eq '^local[[:space:]]+all[[:space:]]+postgres[[:space:]]+peer[[:space:]]+map=ebbdev' "$conf/pg_hba.conf"; then
  $sudo sed -i -E 's/^(local[[:space:]]+all[[:space:]]+postgres[[:space:]]+peer)[[:space:]]*$/\1 map=ebbdev/' "$conf/pg_hba.conf"
  changed=1
fi

if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  $sudo pg_ctlcluster "$version" main start
elif [ "$changed" = 1 ]; then
  $sudo pg_ctlcluster "$version" main reload
fi

for _ in $(seq 1 50); do
  psql -h /var/run/postgresql -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "pg-setup: PostgreSQL $version did not accept connections as postgres" >&2
exit 1
