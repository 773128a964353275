# shellcheck shell=bash
# Sourced by shell tests and benchmarks: the parts of the first URL of $AMQP_URL (a comma-separated list,
# amqp[s]://user:password@host:port/vhost), read with one rule.
# - amqp_user: its user (the broker identity a process started with this URL publishes as).
# - amqp_password: its password (for tests that check it never leaks; never print it).
# - amqp_curl_user: a curl config line `user = "user:password"`, for `curl -K -` (keeps the password off
#   command lines, where ps would show it).
amqp_url_first() { printf '%s' "${AMQP_URL%%,*}"; }
amqp_user() { sed -E 's#^amqps?://([^:@/]*)[:@].*#\1#' <<<"$(amqp_url_first)"; }
amqp_password() { sed -E 's#^amqps?://[^:@/]*:([^@/]*)@.*#\1#' <<<"$(amqp_url_first)"; }
amqp_curl_user() { printf 'user = "%s:%s"\n' "$(amqp_user)" "$(amqp_password)"; }
