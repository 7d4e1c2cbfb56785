// Content digests ("sha256:<64 lowercase hex>"), as OCI descriptors and the spec use them.
// Thread-safety: immutable value type, safe to share.
#ifndef LAYERSEAL_VERIFIER_DIGEST_H_
#define LAYERSEAL_VERIFIER_DIGEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace layerseal {

class Digest {
 public:
  // An empty digest: matches nothing; only a placeholder until one is assigned.
  Digest() = default;
  // Accepts only canonical forms: "sha256:" + 64 or "sha512:" + 128 lowercase hex digits.
  static absl::StatusOr<Digest> Parse(std::string_view text);
  // The SHA-256 digest of `bytes`.
  static Digest Sha256Of(std::string_view bytes);

  // True when `bytes` hash to this digest under its own algorithm.
  bool Matches(std::string_view bytes) const;

  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }
  std::string_view algorithm() const;
  std::string_view hex() const;

  friend bool operator==(const Digest& a, const Digest& b) { return a.value_ == b.value_; }
  friend bool operator<(const Digest& a, const Digest& b) { return a.value_ < b.value_; }

 private:
  friend class Sha256Stream;
  explicit Digest(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// Raw 32-byte SHA-256 of `bytes` (OpenSSL EVP).
std::string Sha256(std::string_view bytes);

// SHA-256 of bytes that arrive in pieces (layer blobs streamed from a content store).
// Not thread-safe; owns its OpenSSL context; movable, not copyable.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&& other) noexcept;
  Sha256Stream& operator=(Sha256Stream&& other) noexcept;
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything passed to Update since construction or the last Finish; the
  // stream then starts over.
  Digest Finish();
  // Bytes passed to Update since construction or the last Finish.
  uint64_t size() const { return size_; }

 private:
  ::evp_md_ctx_st* ctx_ = nullptr;  // EVP_MD_CTX
  uint64_t size_ = 0;
};
std::string HexEncode(std::string_view bytes);
// The bytes of `hex` (either case, even length); nullopt when it is not hex.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_DIGEST_H_
