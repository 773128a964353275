# shellcheck shell=bash
# Prometheus (PROM=1). Sourced by scripts/infra (after common.sh), not executed.

# ---------------------------------------------------------------- prometheus (PROM=1)

# Prometheus 2.42 (Debian package) scraping the coordinator (--http-addr) and RabbitMQ's prometheus
# plugin (per-object endpoint: one series per queue). Config rendered from deploy/prometheus/prometheus.local.yml.in.
prometheus_pid() { pid_of "$PROM_DIR/prometheus.pid" prometheus; }
prometheus_url() { echo "http://127.0.0.1:${CFG[PROMETHEUS_PORT]}"; }
prometheus_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(prometheus_url)/-/ready")" = 200 ]; }

write_prometheus_conf() {
  local tpl="$ROOT/deploy/prometheus/prometheus.local.yml.in" conf="$PROM_DIR/prometheus.yml"
  [ -f "$tpl" ] || die "prometheus: template $tpl is missing"
  mkdir -p "$PROM_DIR/data" "$PROM_DIR/log"
  sed -e "s|@SCRAPE_INTERVAL@|${CLAIMCHECK_PROM_SCRAPE_INTERVAL:-5s}|g" \
      -e "s|@COORDINATOR_TARGET@|${CFG[COORD_METRICS_ADDR]}|g" \
      -e "s|@RABBITMQ_TARGET@|127.0.0.1:${CFG[PROM_PORT]}|g" "$tpl" > "$conf.tmp"
  promtool check config "$conf.tmp" >>"$PROM_DIR/log/prometheus.log" 2>&1 ||
    die "prometheus: generated config is invalid; see $PROM_DIR/log/prometheus.log"
  mv -f "$conf.tmp" "$conf"
}

start_prometheus() {
  write_prometheus_conf
  rm -f "$PROM_DIR/prometheus.pid"
  # setsid: its own session, so a Ctrl+C in the terminal that ran 'up' does not reach it.
  setsid prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="127.0.0.1:${CFG[PROMETHEUS_PORT]}" \
    </dev/null >>"$PROM_DIR/log/prometheus.log" 2>&1 &
  echo $! > "$PROM_DIR/prometheus.pid"
  wait_for "prometheus (127.0.0.1:${CFG[PROMETHEUS_PORT]})" "$UP_TIMEOUT" "$PROM_DIR/log/prometheus.log" \
    prometheus_pid prometheus_ready
}

# `up` of Prometheus (PROM=1).
prometheus_up() {
  local tm; tm="$(now)"; log "prometheus: starting"
  start_prometheus
  log "prometheus: ready at $(prometheus_url), scraping ${CFG[COORD_METRICS_ADDR]} and 127.0.0.1:${CFG[PROM_PORT]} ($(elapsed "$tm") s)"
}
