#pragma once
/// A scripted HTTP/1.1 server on 127.0.0.1 (ephemeral port) for fault-injection tests of the S3 client:
/// truncated bodies, ignored Range, 503 SlowDown. Does not check signatures. Header-only; one thread,
/// serves connections one after another (keep-alive supported). Tests only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace claimcheck::test {

/// One request as received.
struct FakeRequest {
  std::string method, target;
  std::map<std::string, std::string> headers;  ///< lowercase names
  std::string body;
};

/// Raw bytes to send back; `close_after` closes the connection after sending (e.g. to truncate a body).
struct FakeResponse {
  std::string raw;
  bool close_after = false;
};

class FakeS3Server {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&, int index)>;

  explicit FakeS3Server(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeS3Server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  FakeS3Server(const FakeS3Server&) = delete;
  FakeS3Server& operator=(const FakeS3Server&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const {
    std::lock_guard<std::mutex> lk(mu_);
    return requests_;
  }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      serve(c);
      ::close(c);
    }
  }

  static bool recv_more(int c, std::string& buf) {
    char tmp[65536];
    ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  void serve(int c) {
    std::string buf;
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!recv_more(c, buf)) return;
      }
      FakeRequest req;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      auto sp1 = first.find(' ');
      auto sp2 = first.find(' ', sp1 + 1);
      req.method = first.substr(0, sp1);
      req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto le = head.find("\r\n", pos);
        if (le == std::string::npos) le = head.size();
        std::string line = head.substr(pos, le - pos);
        pos = le + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers[name] = value;
      }
      std::size_t want = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
      if (want > 0 && req.headers.count("expect")) {
        const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
        ::send(c, cont.data(), cont.size(), MSG_NOSIGNAL);
      }
      while (buf.size() < want) {
        if (!recv_more(c, buf)) return;
      }
      req.body = buf.substr(0, want);
      buf.erase(0, want);
      int index;
      {
        std::lock_guard<std::mutex> lk(mu_);
        requests_.push_back(req);
        index = static_cast<int>(requests_.size()) - 1;
      }
      FakeResponse resp = handler_(req, index);
      std::size_t sent = 0;
      while (sent < resp.raw.size()) {
        ssize_t n = ::send(c, resp.raw.data() + sent, resp.raw.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
      }
      if (resp.close_after) return;
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
};

}  // namespace claimcheck::test
