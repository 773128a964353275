# shellcheck shell=bash
# TLS of the local servers (`scripts/infra up TLS=1`, DESIGN.md §9 "TLS end to end"). Sourced by scripts/infra
# after common.sh. A local CA ($LOCAL/tls/ca.crt) signs one server certificate (SAN DNS:localhost, IP:127.0.0.1)
# that RabbitMQ (an extra amqps listener on CLAIMCHECK_AMQPS_PORT), radosgw (an extra https endpoint on
# CLAIMCHECK_S3_TLS_PORT) and PostgreSQL (ssl = on, same port) present. The plain listeners stay: existing tests
# keep AMQP_URL, S3_ENDPOINT, CLAIMCHECK_PG_DSN; TLS tests use AMQPS_URL, S3_ENDPOINT_TLS,
# CLAIMCHECK_PG_DSN_TLS and CLAIMCHECK_CA_FILE. PostgreSQL gets a role PG_TLS_USER that may log in only over
# TLS and only with its password (scram-sha-256), so a password really is checked (the rest is trust-auth).

PG_TLS_USER="claimcheck_tls"
TLS_DAYS=825

tls_dir() { echo "$LOCAL/tls"; }
tls_ca() { echo "$LOCAL/tls/ca.crt"; }

# tls_wanted: TLS=1 in the environment, or saved by an earlier `up TLS=1` (TLS=0 turns it off).
tls_wanted() { [ "${CFG[TLS]:-0}" = 1 ]; }

# ensure_tls_certs: the CA (kept once made) and a server certificate signed by it (re-issued when missing,
# not signed by the CA, or expiring within 30 days). Keys are mode 600 in $LOCAL/tls (mode 700).
ensure_tls_certs() {
  local d; d="$(tls_dir)"
  mkdir -p "$d"; chmod 700 "$d"
  if [ ! -s "$d/ca.crt" ] || [ ! -s "$d/ca.key" ]; then
    log "tls: creating the local CA $d/ca.crt"
    ( umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=claimcheck local CA" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$d/ca.key" -out "$d/ca.crt" ) >"$d/openssl.log" 2>&1 ||
      die "tls: creating the CA failed; see $d/openssl.log"
    rm -f "$d/server.crt"
  fi
  if [ -s "$d/server.crt" ] && openssl verify -CAfile "$d/ca.crt" "$d/server.crt" >/dev/null 2>&1 &&
     openssl x509 -checkend $((30 * 86400)) -noout -in "$d/server.crt" >/dev/null 2>&1; then
    return 0
  fi
  log "tls: issuing the server certificate (SAN DNS:localhost, IP:127.0.0.1)"
  ( umask 077
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
      -keyout "$d/server.key" -out "$d/server.csr" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days "$TLS_DAYS" \
      -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n') \
      -out "$d/server.crt" ) >>"$d/openssl.log" 2>&1 || die "tls: issuing the server certificate failed; see $d/openssl.log"
  rm -f "$d/server.csr"
  chmod 644 "$d/ca.crt" "$d/server.crt"
}

# tls_answers PORT [STARTTLS]: a TLS handshake on 127.0.0.1:PORT verifies against our CA for host localhost.
tls_answers() {
  local extra=(); [ -n "${2:-}" ] && extra=(-starttls "$2")
  timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost -verify_hostname localhost \
    -verify_return_error -CAfile "$(tls_ca)" "${extra[@]}" </dev/null >/dev/null 2>&1
}

# ---------------------------------------------------------------- RabbitMQ: amqps listener

# rmq_tls_conf: rabbitmq.conf lines of the amqps listener (appended by write_rmq_files when TLS is on).
rmq_tls_conf() {
  local d; d="$(tls_dir)"
  cat <<EOF
# TLS listener (scripts/infra up TLS=1); clients verify the broker against $d/ca.crt
listeners.ssl.local = 127.0.0.1:${CFG[AMQPS_PORT]}
ssl_options.cacertfile = $d/ca.crt
ssl_options.certfile = $d/server.crt
ssl_options.keyfile = $d/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
}
rmq_tls_ok() { tls_answers "${CFG[AMQPS_PORT]}"; }

# ---------------------------------------------------------------- radosgw: https endpoint

# rgw_frontends: the beast frontends line (an extra ssl_endpoint when TLS is on).
rgw_frontends() {
  local d line; d="$(tls_dir)"; line="beast endpoint=127.0.0.1:${CFG[S3_PORT]}"
  if tls_wanted; then
    line+=" ssl_endpoint=127.0.0.1:${CFG[S3_TLS_PORT]} ssl_certificate=$d/server.crt ssl_private_key=$d/server.key"
  fi
  echo "$line"
}
rgw_tls_ok() {
  local c
  c="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$(tls_ca)" "https://localhost:${CFG[S3_TLS_PORT]}/")"
  [ "$c" = 200 ]
}

# ---------------------------------------------------------------- PostgreSQL: ssl = on, a password role

pg_psql() { as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d "${1:-postgres}" -v ON_ERROR_STOP=1 -Atq "${@:2}"; }

# pg_enable_tls: copies the server certificate into the data dir (owned by postgres), turns ssl on (ALTER SYSTEM:
# a reload is enough, no restart), lets PG_TLS_USER in over TLS with its password only, creates that role.
pg_enable_tls() {
  local d data="$PG_DIR/data" hba="$PG_DIR/data/pg_hba.conf"; d="$(tls_dir)"
  as_pg sh -c "umask 077; cat > '$data/claimcheck-server.key'" <"$d/server.key"
  as_pg sh -c "umask 022; cat > '$data/claimcheck-server.crt'" <"$d/server.crt"
  if ! as_pg grep -q '^# claimcheck tls' "$hba"; then
    { printf '# claimcheck tls (scripts/infra): %s logs in over TLS with its password only\n' "$PG_TLS_USER"
      printf 'hostssl all %s 127.0.0.1/32 scram-sha-256\nhost all %s 127.0.0.1/32 reject\nlocal all %s reject\n' \
        "$PG_TLS_USER" "$PG_TLS_USER" "$PG_TLS_USER"
      as_pg cat "$hba"; } >"$LOCAL/pg_hba.tmp"
    as_pg sh -c "cat > '$hba'" <"$LOCAL/pg_hba.tmp"; rm -f "$LOCAL/pg_hba.tmp"
  fi
  pg_psql postgres -c "ALTER SYSTEM SET ssl = on" -c "ALTER SYSTEM SET ssl_cert_file = 'claimcheck-server.crt'" \
    -c "ALTER SYSTEM SET ssl_key_file = 'claimcheck-server.key'" -c "SELECT pg_reload_conf()" >/dev/null ||
    die "postgres: turning ssl on failed; see $PG_DIR/log/postgres.log"
  # The password goes to psql on stdin, never on a command line.
  pg_psql postgres >/dev/null <<SQL || die "postgres: creating role $PG_TLS_USER failed"
SELECT format('CREATE ROLE %I LOGIN', '$PG_TLS_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_TLS_USER')\gexec
ALTER ROLE "$PG_TLS_USER" LOGIN PASSWORD '${CFG[PG_TLS_PASSWORD]}';
GRANT ALL ON DATABASE "${CFG[PG_DB]}" TO "$PG_TLS_USER";
SQL
  pg_psql "${CFG[PG_DB]}" -c "GRANT ALL ON SCHEMA public TO \"$PG_TLS_USER\"" >/dev/null ||
    die "postgres: granting schema public to $PG_TLS_USER failed"
  wait_for "postgres TLS login of $PG_TLS_USER" 30 "$PG_DIR/log/postgres.log" pg_pid pg_tls_ok
}
pg_tls_dsn() {
  echo "postgresql://$PG_TLS_USER@localhost:${CFG[PG_PORT]}/${CFG[PG_DB]}?sslmode=verify-full&sslrootcert=$(tls_ca)"
}
pg_tls_ok() {
  PGPASSWORD="${CFG[PG_TLS_PASSWORD]}" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" "$(pg_tls_dsn)" -Atqc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>/dev/null |
    grep -qx t
}

# tls_env_lines: the .local/env lines of the TLS settings (administrator).
tls_env_lines() {
  local with_pg="$1"
  echo "# TLS (scripts/infra up TLS=1): the same servers over amqps/https/PostgreSQL verify-full, our CA"
  echo "CLAIMCHECK_CA_FILE=$(tls_ca)"
  echo "AMQPS_URL=amqps://${CFG[AMQP_USER]}:${CFG[AMQP_PASSWORD]}@localhost:${CFG[AMQPS_PORT]}/%2F"
  echo "S3_ENDPOINT_TLS=https://localhost:${CFG[S3_TLS_PORT]}"
  if [ "$with_pg" = 1 ]; then
    echo "CLAIMCHECK_PG_DSN_TLS='$(pg_tls_dsn)'"  # quoted: its & would end a shell command
    echo "# the password of the DSN's user (libpq: PGPASSWORD or a PGPASSFILE line); it accepts no other login"
    echo "CLAIMCHECK_PG_TLS_PASSWORD=${CFG[PG_TLS_PASSWORD]}"
  fi
}

# tls_party_env_lines PARTY: the TLS lines of $LOCAL/env.PARTY.
tls_party_env_lines() {
  echo "CLAIMCHECK_CA_FILE=$(tls_ca)"
  echo "AMQPS_URL=amqps://$1:${PARTY[amqp.$1]}@localhost:${CFG[AMQPS_PORT]}/%2F"
  echo "S3_ENDPOINT_TLS=https://localhost:${CFG[S3_TLS_PORT]}"
}

# up_tls WANT_PG RESTART_RMQ RESTART_RGW: the last step of `up` with TLS on: restarts what runs without its TLS
# listener, turns PostgreSQL's ssl on, and waits until every TLS listener verifies against our CA.
up_tls() {
  local t0; t0="$(now)"
  if [ "$2" = 1 ]; then
    warn "rabbitmq runs without its TLS listener: restarting it (open AMQP connections drop; queues are kept)"
    stop_by rabbitmq rmq_pid
    start_rabbitmq
  fi
  if [ "$3" = 1 ]; then
    warn "radosgw runs without its https endpoint: restarting radosgw (objects are kept)"
    stop_by radosgw rgw_pid
    write_ceph_conf
    start_rgw
  fi
  wait_for "rabbitmq amqps (127.0.0.1:${CFG[AMQPS_PORT]})" 60 "$(rmq_log)" rmq_pid rmq_tls_ok
  wait_for "radosgw https (127.0.0.1:${CFG[S3_TLS_PORT]})" 60 "$CEPH_DIR/log/$RGW_NAME.log" rgw_pid rgw_tls_ok
  if [ "$1" = 1 ]; then pg_enable_tls; fi
  log "tls: amqps on 127.0.0.1:${CFG[AMQPS_PORT]}, https on 127.0.0.1:${CFG[S3_TLS_PORT]}$([ "$1" = 1 ] && echo ", postgres ssl on ${CFG[PG_PORT]}"), CA $(tls_ca) ($(elapsed "$t0") s)"
}
