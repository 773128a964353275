# shellcheck shell=bash
# PostgreSQL (PG=1). Sourced by scripts/infra (after common.sh), not executed.

# ---------------------------------------------------------------- postgresql

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_pid() { pid_of "$PG_DIR/data/postmaster.pid" postgres; }
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -t 3; }
pg_dsn() { echo "postgresql://postgres@127.0.0.1:${CFG[PG_PORT]}/${CFG[PG_DB]}"; }

start_pg() {
  chmod 755 "$LOCAL"
  if [ "$(id -u)" -eq 0 ] && [ ! -e "$LOCAL/postgres" ] && ! runuser -u postgres -- test -x "$LOCAL"; then
    PG_DIR="/var/tmp/claimcheck-pg-$(printf '%s' "$LOCAL" | md5sum | cut -c1-12)"
    log "postgres: user postgres cannot enter $LOCAL; data goes to $PG_DIR (symlinked from $LOCAL/postgres)"
    rm -rf "$PG_DIR"; mkdir -p "$PG_DIR"
    ln -s "$PG_DIR" "$LOCAL/postgres"
  fi
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_DIR"; fi
  chmod 700 "$PG_DIR"
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    log "postgres: initdb"
    as_pg mkdir -p "$PG_DIR/log" "$PG_DIR/sock"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 ||
      die "initdb failed; see $PG_DIR/initdb.log"
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log/postgres.log" -w -t "$UP_TIMEOUT" \
    -o "-p ${CFG[PG_PORT]} -k $PG_DIR/sock -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 ||
    die "postgres did not start; see $PG_DIR/log/postgres.log"
  wait_for "postgres (127.0.0.1:${CFG[PG_PORT]})" "$UP_TIMEOUT" "$PG_DIR/log/postgres.log" pg_pid pg_ready
  local exists
  exists="$(as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '${CFG[PG_DB]}'")" || die "psql failed; see $PG_DIR/log/postgres.log"
  if [ "$exists" != 1 ]; then
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -qc \
      "CREATE DATABASE \"${CFG[PG_DB]}\"" >/dev/null || die "CREATE DATABASE ${CFG[PG_DB]} failed"
    log "postgres: created database ${CFG[PG_DB]}"
  fi
}

# `up` of PostgreSQL (cmd_up runs it in the background).
pg_up() {
  local tp; tp="$(now)"; log "postgres: starting"
  start_pg
  log "postgres: ready on 127.0.0.1:${CFG[PG_PORT]} ($(elapsed "$tp") s)"
}
