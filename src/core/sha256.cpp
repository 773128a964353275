#include "claimcheck/core/sha256.h"

#include <openssl/evp.h>

#include <cassert>
#include <new>

namespace claimcheck {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  Ctx() : md(EVP_MD_CTX_new()) {
    if (md == nullptr || EVP_DigestInit_ex(md, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(md);
      throw std::bad_alloc();
    }
  }
  ~Ctx() { EVP_MD_CTX_free(md); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const std::byte> data) {
  assert(ctx_ && !finished_);
  if (finished_ || data.empty()) return;
  EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

void Sha256::update(std::string_view data) {
  update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size()));
}

std::array<std::byte, Sha256::kDigestBytes> Sha256::digest() {
  assert(ctx_);
  if (!finished_) {
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_->md, reinterpret_cast<unsigned char*>(digest_.data()), &len);
    assert(len == kDigestBytes);
    finished_ = true;
  }
  return digest_;
}

std::string Sha256::hex_digest() {
  auto d = digest();
  return to_hex(d);
}

void Sha256::reset() {
  assert(ctx_);
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
  finished_ = false;
  digest_ = {};
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

std::string sha256_hex(std::span<const std::byte> data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

bool is_sha256_hex(std::string_view s) noexcept {
  if (s.size() != Sha256::kHexDigestChars) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string to_hex(std::span<const std::byte> data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(data.size() * 2);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto b = std::to_integer<unsigned>(data[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 0xFu];
  }
  return out;
}

}  // namespace claimcheck
