#!/bin/bash
# deploy/docker/migrate-entrypoint.sh — the migrate image's entrypoint: waits until the
# PostgreSQL server of $DATABASE_URL accepts connections (at most $MIGRATE_WAIT_S seconds,
# default 60), then runs deploy/local/migrate (bash + psql), which applies every
# schemas/sql/NNNN_*.sql not yet recorded in schema_migrations and exits 0 when up to date.
set -euo pipefail

if [[ -z "${DATABASE_URL:-}" ]]; then
  echo "migrate: DATABASE_URL is not set (postgresql://user:password@host:5432/db?sslmode=...)" >&2
  exit 2
fi
wait_s="${MIGRATE_WAIT_S:-60}"
[[ "$wait_s" =~ ^[0-9]+$ ]] || { echo "migrate: MIGRATE_WAIT_S=$wait_s is not a number" >&2; exit 2; }

for ((i = 0; ; i++)); do
  pg_isready -q -d "$DATABASE_URL" -t 2 && break
  if ((i >= wait_s)); then
    echo "migrate: PostgreSQL not reachable after ${wait_s}s" >&2
    exit 1
  fi
  ((i % 10 == 0)) && echo "migrate: waiting for PostgreSQL" >&2
  sleep 1
done

exec "$(dirname "${BASH_SOURCE[0]}")/../local/migrate" "$@"
