#pragma once
/// Private: verification of amqps:// connections on top of rabbitmq-c 0.11 (DESIGN.md §9 "TLS end to end").
///
/// rabbitmq-c 0.11 verifies the chain after the handshake and matches host names against DNS subjectAltNames
/// only, so `amqps://127.0.0.1` fails against a certificate for IP 127.0.0.1. configure_tls() has OpenSSL
/// itself check the host (a DNS name, or an IP literal against IP subjectAltNames) as part of the chain
/// verification, and records why a verification failed, for an error message that names the cause.

#include <amqp.h>

#include <string>

#include "claimcheck/core/result.h"

namespace claimcheck::amqp::detail {

/// Sets up `sock` (an amqp_ssl_socket_new() socket, not yet opened) to verify the broker: trust only the CAs of
/// the PEM file `ca_file`, check the certificate chain and that it is issued for `host` (the URL's host: a DNS
/// name, or an IPv4/IPv6 literal without brackets). `verify` false turns every check off (tests only).
/// Errors: InvalidArgument (Origin::Config) when `ca_file` cannot be loaded; Internal when OpenSSL refuses the
/// host. Call on the thread that then opens the socket (see last_verify_error()).
[[nodiscard]] Result<void> configure_tls(amqp_socket_t* sock, const std::string& host, const std::string& ca_file,
                                         bool verify);

/// Why the last certificate verification on this thread failed, in OpenSSL's words with the depth, e.g.
/// "unable to get local issuer certificate (depth 0)" or "hostname mismatch (depth 0)"; "" when it did not
/// fail. Clears the record. Thread-safe (one record per thread).
std::string take_verify_error();

}  // namespace claimcheck::amqp::detail
