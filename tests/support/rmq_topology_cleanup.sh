# shellcheck shell=bash
# Sourced by shell tests and benchmarks:
# - rmq_topology_flags ARRAY NS: sets the array named ARRAY to the claimcheck flags of a topology of its own,
#   --msg-exchange ex.NS.msg --ack-exchange ex.NS.ack --ack-queue q.NS.ack --dlx ex.NS.dlx --dead-queue q.NS.dead
#   --queue-prefix q.NS. (the names rmq_delete_topology NS removes).
# - rmq_api PATH [curl args...]: a request to the RabbitMQ management API ($RABBITMQ_MGMT_URL/api/PATH) as the
#   administrator of AMQP_URL (credentials to curl on stdin, never on a command line); prints the body.
# - rmq_delete_topology NS RECIPIENT... deletes the queues q.NS.ack, q.NS.dead, q.NS.<recipient> and the
#   exchanges ex.NS.{ack,msg,dlx} that a test declared with --msg-exchange ex.NS.msg ... --queue-prefix q.NS.,
#   through rmq_api. Best effort: never fails the caller.
# shellcheck source=tests/support/amqp_url.sh
. "$(dirname "${BASH_SOURCE[0]}")/amqp_url.sh"

# shellcheck disable=SC2034 # flags_ is the caller's array
rmq_topology_flags() {
  local -n flags_=$1
  flags_=(--msg-exchange "ex.$2.msg" --ack-exchange "ex.$2.ack" --ack-queue "q.$2.ack" --dlx "ex.$2.dlx"
          --dead-queue "q.$2.dead" --queue-prefix "q.$2.")
}

rmq_api() {
  local path=$1; shift
  amqp_curl_user | curl -s -K - --max-time 10 "$@" "$RABBITMQ_MGMT_URL/api/$path"
}

rmq_delete_topology() {
  local ns=${1:?usage: rmq_delete_topology NS RECIPIENT...} q x; shift
  for q in ack dead "$@"; do rmq_api "queues/%2F/q.$ns.$q" -o /dev/null -X DELETE || true; done
  for x in ack msg dlx; do rmq_api "exchanges/%2F/ex.$ns.$x" -o /dev/null -X DELETE || true; done
  return 0
}
