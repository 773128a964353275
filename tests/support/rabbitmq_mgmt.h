#pragma once
/// Test helper: calls to the local RabbitMQ management HTTP API (`make up`: RABBITMQ_MGMT_URL in
/// .local/env) as the administrator of AMQP_URL. Credentials go through a mode-600 curl config file,
/// never argv. Header-only, tests only; thread-compatible.
///
/// Usage:
///   test::mgmt("PUT", "/api/policies/%2F/p1", R"({"pattern":"^q\\.x$","definition":{"max-length":0}})");
///   test::mgmt("DELETE", "/api/policies/%2F/p1");

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "test_env.h"

namespace claimcheck::test {

/// "<pid>-<6 hex>": unique enough for names of one test run.
inline std::string unique_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 0xffffff);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%06x", static_cast<int>(getpid()), d(rd));
  return buf;
}

/// user:password of an AMQP URL (percent-encoded as in the URL).
inline std::string userinfo_of(const std::string& url) {
  auto s = url.find("://");
  if (s == std::string::npos) return {};
  auto at = url.find('@', s + 3);
  if (at == std::string::npos) return {};
  return url.substr(s + 3, at - s - 3);
}

/// Percent-decoding (RFC 3986 §2.1).
inline std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// Percent-encoding of everything but RFC 3986 unreserved characters.
inline std::string url_encode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

/// Reply of one management API request: HTTP status (0 when curl failed) and body.
struct MgmtReply {
  int status = 0;
  std::string body;
};

/// One management API request (`path` starts with "/api/"); `body` (JSON) is sent when non-empty.
inline MgmtReply mgmt(const std::string& method, const std::string& path, const std::string& body = "") {
  const std::string base = require_env("RABBITMQ_MGMT_URL");
  const std::string amqp_url = require_env("AMQP_URL");
  const std::string stem = "/tmp/cc-mgmt-" + unique_suffix();
  {
    std::ofstream f(stem + ".curlrc");
    chmod((stem + ".curlrc").c_str(), 0600);
    f << "user = \"" << url_decode(userinfo_of(amqp_url)) << "\"\n";
    f << "url = \"" << base << path << "\"\n";
    f << "request = \"" << method << "\"\n";
    f << "header = \"X-Reason: claimcheck integration test\"\n";
    f << "write-out = \"\\nHTTP %{http_code}\"\n";
    if (!body.empty()) {
      std::ofstream(stem + ".json") << body;
      f << "header = \"Content-Type: application/json\"\n";
      f << "data-binary = \"@" << stem << ".json\"\n";
    }
  }
  std::string out;
  if (FILE* p = popen(("curl -sS --max-time 30 -K " + stem + ".curlrc").c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  std::remove((stem + ".curlrc").c_str());
  std::remove((stem + ".json").c_str());
  MgmtReply r;
  const auto nl = out.rfind("\nHTTP ");
  if (nl == std::string::npos) return r;
  r.status = std::atoi(out.c_str() + nl + 6);
  r.body = out.substr(0, nl);
  return r;
}

}  // namespace claimcheck::test
