#pragma once
/// Test helper: the local RabbitMQ's management HTTP API (RABBITMQ_MGMT_URL, administrator credentials of
/// AMQP_URL) through curl, and BrokerUser, a RAII extra broker user for trust-model tests (DESIGN.md §9).
/// Credentials go through a mode-600 curl config file, never argv. Header-only; tests only; not thread-safe.

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "claimcheck/amqp/types.h"
#include "test_env.h"

namespace claimcheck::test {

/// "user:password" of an AMQP URL (still percent-encoded); "" when it has none.
inline std::string userinfo_of(const std::string& url) {
  auto s = url.find("://");
  auto at = url.find('@', s + 3);
  if (s == std::string::npos || at == std::string::npos) return {};
  return url.substr(s + 3, at - s - 3);
}

/// Percent-decoding (RFC 3986).
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

/// A random lowercase hex suffix with the pid ("1234-0a1b2c") for unique test names.
inline std::string mgmt_unique_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 0xffffff);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%06x", static_cast<int>(getpid()), d(rd));
  return buf;
}

/// Calls the management API: `method` on `path` (e.g. "/api/users/x") with an optional JSON `body`; returns
/// the response body ("" on transport errors). Uses the administrator user of AMQP_URL.
inline std::string mgmt(const std::string& method, const std::string& path, const std::string& body = {}) {
  const std::string base = require_env("RABBITMQ_MGMT_URL");
  const std::string amqp_url = require_env("AMQP_URL");
  std::string cfg_path = "/tmp/cc-mgmt-" + mgmt_unique_suffix() + ".curlrc";
  {
    std::ofstream f(cfg_path);
    chmod(cfg_path.c_str(), 0600);
    f << "user = \"" << url_decode(userinfo_of(amqp_url)) << "\"\n";
    f << "url = \"" << base << path << "\"\n";
    f << "request = \"" << method << "\"\n";
    f << "header = \"X-Reason: claimcheck integration test\"\n";
    if (!body.empty()) {
      f << "header = \"content-type: application/json\"\n";
      f << "data = \"";
      for (char c : body) f << (c == '"' || c == '\\' ? "\\" : "") << c;
      f << "\"\n";
    }
  }
  std::string out;
  if (FILE* p = popen(("curl -sS -K " + cfg_path).c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  std::remove(cfg_path.c_str());
  return out;
}

/// An extra RabbitMQ user with a random password and full rights on vhost "/" (configure/write/read ".*"),
/// created through the management API and deleted (with its connections closed by the broker) on
/// destruction. url() is AMQP_URL with this user's credentials. Move-only would double-delete: not copyable.
class BrokerUser {
 public:
  /// Creates user `name` (no tags: not an administrator, no impersonator). Records a test failure when the
  /// API refuses.
  explicit BrokerUser(std::string name) : name_(std::move(name)) {
    password_ = "pw-" + mgmt_unique_suffix();
    std::string r = mgmt("PUT", "/api/users/" + url_encode(name_), R"({"password":")" + password_ + R"(","tags":""})");
    EXPECT_EQ(r.find("error"), std::string::npos) << r;
    r = mgmt("PUT", "/api/permissions/%2F/" + url_encode(name_), R"({"configure":".*","write":".*","read":".*"})");
    EXPECT_EQ(r.find("error"), std::string::npos) << r;
  }
  ~BrokerUser() { (void)mgmt("DELETE", "/api/users/" + url_encode(name_)); }
  BrokerUser(const BrokerUser&) = delete;
  BrokerUser& operator=(const BrokerUser&) = delete;

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
