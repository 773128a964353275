#pragma once
/// Test helper: a throttling TCP proxy (issue 8 item 5). Listens on 127.0.0.1:0 and forwards each
/// connection to an upstream host:port; the upstream → client direction is limited to `rate` bytes/s in
/// total (all connections share one link), and each connection is reset (RST) `drop_every` after it was
/// accepted, like a flaky branch-office link. Counts the bytes it forwarded each way.
///
/// Usage:
///   test::ThrottleProxy proxy({"127.0.0.1", 7480, 16 << 20, std::chrono::seconds(2)});
///   s3cfg.endpoint = proxy.endpoint();   // "http://127.0.0.1:<port>"
///   ... proxy.bytes_down() ...
///
/// Header-only, two threads per connection plus one acceptor; thread-safe counters. The destructor stops
/// everything and joins.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace claimcheck::test {

class ThrottleProxy {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::string upstream_host = "127.0.0.1";
    std::uint16_t upstream_port = 0;
    double rate = 0;                                 ///< bytes/s upstream → client, all connections; 0 = unlimited
    std::chrono::milliseconds drop_every{0};         ///< reset each connection this long after accept; 0 = never
  };

  explicit ThrottleProxy(Options o) : opt_(std::move(o)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0)
      throw std::runtime_error("ThrottleProxy: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ThrottleProxy(const ThrottleProxy&) = delete;
  ThrottleProxy& operator=(const ThrottleProxy&) = delete;
  ~ThrottleProxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& c : conns_) c->join();
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Bytes forwarded upstream → client (what the client received over the "link").
  [[nodiscard]] std::uint64_t bytes_down() const noexcept { return down_.load(); }
  [[nodiscard]] std::uint64_t bytes_up() const noexcept { return up_.load(); }
  [[nodiscard]] std::uint64_t connections() const noexcept { return accepted_.load(); }
  [[nodiscard]] std::uint64_t drops() const noexcept { return drops_.load(); }

 private:
  struct Conn {
    int client = -1, upstream = -1;
    std::thread up, down;
    void join() {
      if (up.joinable()) up.join();
      if (down.joinable()) down.join();
      ::close(client);
      ::close(upstream);
    }
  };

  int connect_upstream() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(opt_.upstream_port);
    ::inet_pton(AF_INET, opt_.upstream_host.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  void accept_loop() {
    while (!stop_) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      const int u = connect_upstream();
      if (u < 0) {
        ::close(c);
        continue;
      }
      ++accepted_;
      auto conn = std::make_unique<Conn>();
      conn->client = c;
      conn->upstream = u;
      const auto deadline = opt_.drop_every.count() > 0 ? Clock::now() + opt_.drop_every : Clock::time_point::max();
      auto state = std::make_shared<std::atomic<bool>>(false);  // closed
      conn->up = std::thread([this, c, u, deadline, state] { pump(c, u, false, deadline, *state); });
      conn->down = std::thread([this, c, u, deadline, state] { pump(u, c, true, deadline, *state); });
      std::lock_guard<std::mutex> lk(mu_);
      conns_.push_back(std::move(conn));
    }
  }

  /// Waits until `n` more bytes fit the shared link rate.
  void pace(std::size_t n) {
    if (opt_.rate <= 0) return;
    Clock::time_point at;
    {
      std::lock_guard<std::mutex> lk(rate_mu_);
      const auto now = Clock::now();
      if (next_ < now) next_ = now;
      at = next_;
      next_ += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(n) / opt_.rate));
    }
    std::this_thread::sleep_until(at);
  }

  /// Resets both sockets (SO_LINGER 0 → RST), so the client sees a broken connection, not a clean end.
  void reset(int a, int b, std::atomic<bool>& closed, bool dropped) {
    if (closed.exchange(true)) return;
    if (dropped) ++drops_;
    linger l{1, 0};
    ::setsockopt(a, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::setsockopt(b, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::shutdown(a, SHUT_RDWR);
    ::shutdown(b, SHUT_RDWR);
  }

  void pump(int from, int to, bool down, Clock::time_point deadline, std::atomic<bool>& closed) {
    const std::size_t chunk =
        opt_.rate > 0 ? std::clamp<std::size_t>(static_cast<std::size_t>(opt_.rate / 50), 512, 64 * 1024) : 64 * 1024;
    std::string buf(chunk, '\0');
    while (!stop_ && !closed.load()) {
      if (Clock::now() >= deadline) return reset(from, to, closed, true);
      pollfd p{from, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
      if (n <= 0) return reset(from, to, closed, false);
      if (down) pace(static_cast<std::size_t>(n));
      if (Clock::now() >= deadline) return reset(from, to, closed, true);
      std::size_t off = 0;
      while (off < static_cast<std::size_t>(n)) {
        const ssize_t w = ::send(to, buf.data() + off, static_cast<std::size_t>(n) - off, MSG_NOSIGNAL);
        if (w <= 0) return reset(from, to, closed, false);
        off += static_cast<std::size_t>(w);
      }
      (down ? down_ : up_) += static_cast<std::uint64_t>(n);
    }
    reset(from, to, closed, false);
  }

  Options opt_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;
  std::mutex rate_mu_;
  Clock::time_point next_{};
  std::atomic<std::uint64_t> down_{0}, up_{0}, accepted_{0}, drops_{0};
};

}  // namespace claimcheck::test
