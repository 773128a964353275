#pragma once
/// Result<T>: a value or an Error, shaped like C++23 std::expected (DESIGN.md §6).

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "claimcheck/core/error.h"

namespace claimcheck {

/// Wraps an Error so that `return Unexpected{err};` / `return fail(...)` converts to any Result<T>.
struct Unexpected {
  Error error;
};

/// Shorthand for returning an error from a function returning Result<T>.
inline Unexpected fail(ErrorCode code, Origin origin, std::string message, std::string detail = {}) {
  return Unexpected{make_error(code, origin, std::move(message), std::move(detail))};
}
inline Unexpected fail(Error e) { return Unexpected{std::move(e)}; }
/// The error of a bad configuration value: InvalidArgument, origin Config (every *Config::validate() and
/// option parser). `message` names the field and the rule, never a secret.
inline Unexpected config_error(std::string message) {
  return fail(ErrorCode::InvalidArgument, Origin::Config, std::move(message));
}

/// A value of type T or an Error. Accessing the wrong alternative is a programming error (asserts).
/// Not thread-safe to mutate concurrently; copyable/movable when T is.
template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(const T& v) : v_(std::in_place_index<0>, v) {}                    // NOLINT(implicit)
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}              // NOLINT(implicit)
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {} // NOLINT(implicit)
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Result> &&
                                                    !std::is_same_v<std::decay_t<U>, Unexpected> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& u) : v_(std::in_place_index<0>, T(std::forward<U>(u))) {}     // NOLINT(implicit)

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!has_value()); return std::get<1>(v_); }
  Error&& error() && { assert(!has_value()); return std::get<1>(std::move(v_)); }

  template <typename U>
  T value_or(U&& def) const& { return has_value() ? value() : static_cast<T>(std::forward<U>(def)); }

 private:
  std::variant<T, Error> v_;
};

/// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : err_(std::move(u.error)), ok_(false) {}  // NOLINT(implicit)
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const { assert(ok_); }
  const Error& error() const& { assert(!ok_); return err_; }
  Error&& error() && { assert(!ok_); return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

/// Success value for Result<void>.
inline Result<void> ok() { return {}; }

}  // namespace claimcheck

/// Propagate an error: `CC_TRY(r, expr);` declares `auto r = expr;` and returns its error if it failed.
#define CC_TRY(var, expr)                                            \
  auto var = (expr);                                                 \
  if (!var.has_value()) return ::claimcheck::Unexpected{std::move(var).error()}

/// Propagate an error from a Result<void> expression.
#define CC_TRY_VOID(expr)                                            \
  do {                                                               \
    auto cc_try_r_ = (expr);                                         \
    if (!cc_try_r_.has_value()) return ::claimcheck::Unexpected{std::move(cc_try_r_).error()}; \
  } while (0)
