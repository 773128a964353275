#pragma once
/// Test helper: calls to the local RabbitMQ management HTTP API (`make up`: RABBITMQ_MGMT_URL in
/// .local/env) as the administrator of AMQP_URL, and BrokerUser, a RAII extra broker user for trust-model
/// tests (DESIGN.md §9). Credentials go through a mode-600 curl config file,
/// never argv. Header-only, tests only; thread-compatible.
///
/// Usage:
///   test::mgmt("PUT", "/api/policies/%2F/p1", R"({"pattern":"^q\\.x$","definition":{"max-length":0}})");
///   test::mgmt("DELETE", "/api/policies/%2F/p1");

#include "test_data.h"
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "claimcheck/amqp/types.h"
#include "test_env.h"

namespace claimcheck::test {

/// "<pid>-<6 hex>": unique enough for names of one test run.
inline std::string unique_suffix() { return std::to_string(getpid()) + "-" + unique_name("", 6); }

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

/// An extra RabbitMQ user with a random password and full rights on vhost "/" (configure/write/read ".*"),
/// created through the management API and deleted (with its connections closed by the broker) on
/// destruction. url() is AMQP_URL with this user's credentials. Move-only would double-delete: not copyable.
class BrokerUser {
 public:
  /// Creates user `name` (no tags: not an administrator, no impersonator). Records a test failure when the
  /// API refuses.
  explicit BrokerUser(std::string name) : name_(std::move(name)) {
    password_ = "pw-" + unique_suffix();
    auto r = mgmt("PUT", "/api/users/" + url_encode(name_), R"({"password":")" + password_ + R"(","tags":""})");
    EXPECT_TRUE(r.status == 201 || r.status == 204) << r.status << " " << r.body;
    r = mgmt("PUT", "/api/permissions/%2F/" + url_encode(name_), R"({"configure":".*","write":".*","read":".*"})");
    EXPECT_TRUE(r.status == 201 || r.status == 204) << r.status << " " << r.body;
  }
  ~BrokerUser() { (void)mgmt("DELETE", "/api/users/" + url_encode(name_)); }
  BrokerUser(const BrokerUser&) = delete;
  BrokerUser& operator=(const BrokerUser&) = delete;

  /// Replaces the user's permissions on vhost / (configure, write, read regexes). Records a test failure when
  /// the API refuses.
  void set_permissions(const std::string& configure, const std::string& write, const std::string& read) const {
    auto j = nlohmann::json{{"configure", configure}, {"write", write}, {"read", read}};
    auto r = mgmt("PUT", "/api/permissions/%2F/" + url_encode(name_), j.dump());
    EXPECT_TRUE(r.status == 201 || r.status == 204) << r.status << " " << r.body;
  }

  /// The broker user name.
  [[nodiscard]] const std::string& name() const { return name_; }
  /// AMQP_URL with this user's credentials instead of the administrator's.
  [[nodiscard]] std::string url() const {
    const std::string admin = require_env("AMQP_URL");
    const std::string info = userinfo_of(admin);
    const auto at = admin.find(info);
    return admin.substr(0, at) + url_encode(name_) + ":" + url_encode(password_) + admin.substr(at + info.size());
  }

 private:
  std::string name_, password_;
};

/// The administrator user of AMQP_URL (the user every test process publishes as).
inline std::string admin_user() { return amqp::url_user(require_env("AMQP_URL")); }

}  // namespace claimcheck::test
