#include "verifier/digest.h"

#include <openssl/evp.h>

#include "base/str_cat.h"

namespace layerseal {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Fetched once: passing EVP_sha256() makes OpenSSL 3 look the implementation up on every
// call, which costs ~200 ns, more than hashing a small manifest descriptor (docs/performance.md).
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

const EVP_MD* Sha512Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  return md;
}

std::string Hash(const EVP_MD* md, std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-2 with valid arguments; an empty result would never match.
  if (EVP_Digest(bytes.data(), bytes.size(), out, &len, md, nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

absl::StatusOr<Digest> Digest::Parse(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(StrCat("digest \"", text.substr(0, 80), "\": no algorithm prefix"));
  }
  std::string_view algo = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  size_t want = algo == "sha256" ? 64 : algo == "sha512" ? 128 : 0;
  if (want == 0) {
    return absl::InvalidArgumentError(
        StrCat("digest \"", text.substr(0, 80), "\": unsupported algorithm (sha256 or sha512)"));
  }
  if (hex.size() != want || !IsLowerHex(hex)) {
    return absl::InvalidArgumentError(StrCat(
        "digest \"", text.substr(0, 80), "\": want ", want, " lowercase hex digits after \"", algo, ":\""));
  }
  return Digest(std::string(text));
}

Digest Digest::Sha256Of(std::string_view bytes) {
  return Digest(StrCat("sha256:", HexEncode(Sha256(bytes))));
}

bool Digest::Matches(std::string_view bytes) const {
  if (value_.empty()) return false;
  const EVP_MD* md = algorithm() == "sha512" ? Sha512Md() : Sha256Md();
  return HexEncode(Hash(md, bytes)) == hex();
}

std::string_view Digest::algorithm() const {
  return std::string_view(value_).substr(0, value_.find(':'));
}

std::string_view Digest::hex() const {
  return std::string_view(value_).substr(value_.find(':') + 1);
}

std::string Sha256(std::string_view bytes) { return Hash(Sha256Md(), bytes); }

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  // Init cannot fail for SHA-256 with a fresh context; a failed one would give a digest that
  // matches nothing, never a false match.
  if (ctx_ != nullptr) EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(ctx_); }

Sha256Stream::Sha256Stream(Sha256Stream&& other) noexcept : ctx_(other.ctx_), size_(other.size_) {
  other.ctx_ = nullptr;
  other.size_ = 0;
}

Sha256Stream& Sha256Stream::operator=(Sha256Stream&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = other.ctx_;
    size_ = other.size_;
    other.ctx_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Sha256Stream::Update(std::string_view bytes) {
  size_ += bytes.size();
  if (ctx_ != nullptr && !bytes.empty()) EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
}

Digest Sha256Stream::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string raw;
  if (ctx_ != nullptr && EVP_DigestFinal_ex(ctx_, out, &len) == 1) {
    raw.assign(reinterpret_cast<char*>(out), len);
    EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr);
  }
  size_ = 0;
  // A failure leaves the digest empty: it matches nothing.
  if (raw.size() != 32) return Digest();
  return Digest(StrCat("sha256:", HexEncode(raw)));
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = value(hex[i]), lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace layerseal
