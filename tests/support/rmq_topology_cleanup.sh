# Sourced by shell tests: rmq_delete_topology NS RECIPIENT... deletes the queues q.NS.ack, q.NS.dead, q.NS.<recipient>
# and the exchanges ex.NS.{ack,msg,dlx} that a test declared with --msg-exchange ex.NS.msg ... --queue-prefix q.NS.,
# through the management API (RABBITMQ_MGMT_URL) as the administrator of AMQP_URL (credentials to curl on stdin,
# never on a command line). Best effort: never fails the caller.
rmq_delete_topology() {
  local ns=${1:?usage: rmq_delete_topology NS RECIPIENT...} q x; shift
  _rmq_creds() { sed -E 's|^amqps?://([^:@/]+):([^@/]+)@.*|user = "\1:\2"|' <<<"${AMQP_URL%%,*}"; }
  for q in ack dead "$@"; do
    _rmq_creds | curl -s -K - -o /dev/null --max-time 10 -X DELETE "$RABBITMQ_MGMT_URL/api/queues/%2F/q.$ns.$q" || true
  done
  for x in ack msg dlx; do
    _rmq_creds | curl -s -K - -o /dev/null --max-time 10 -X DELETE "$RABBITMQ_MGMT_URL/api/exchanges/%2F/ex.$ns.$x" || true
  done
  return 0
}
