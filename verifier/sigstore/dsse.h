// DSSE envelopes (https://github.com/secure-systems-lab/dsse), their pre-authentication
// encoding, and the in-toto Statements they carry. Pure parsing; thread-safe.
#ifndef LAYERSEAL_VERIFIER_SIGSTORE_DSSE_H_
#define LAYERSEAL_VERIFIER_SIGSTORE_DSSE_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "verifier/digest.h"

namespace layerseal::sigstore::dsse {

inline constexpr size_t kMaxDssePayloadBytes = 1 << 20;
inline constexpr size_t kMaxInTotoSubjects = 1024;
inline constexpr size_t kMaxEnvelopeSignatures = 16;
inline constexpr std::string_view kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr std::string_view kCosignSignPredicate = "https://sigstore.dev/cosign/sign/v1";

struct Signature {
  std::string sig;    // raw bytes
  std::string keyid;  // may be empty
};
struct Envelope {
  std::string payload;  // raw bytes (decoded)
  std::string payload_type;
  std::vector<Signature> signatures;
};

// The envelope JSON object at `path` ({"payload","payloadType","signatures":[{"sig","keyid"}]}).
absl::StatusOr<Envelope> ParseEnvelope(const nlohmann::json& j, std::string_view path);
// "DSSEv1 <len(type)> <type> <len(body)> <body>", decimal lengths.
std::string Pae(std::string_view type, std::string_view body);

struct Subject {
  std::string name;
  std::map<std::string, std::string> digest;  // algorithm -> lowercase hex
};
struct Statement {
  std::string type;  // https://in-toto.io/Statement/v1 or /v0.1
  std::string predicate_type;
  std::vector<Subject> subjects;
};
// An in-toto Statement (strict JSON, at most kMaxDssePayloadBytes, kMaxInTotoSubjects).
absl::StatusOr<Statement> ParseStatement(std::string_view payload);
// True when some subject's digest has `d`'s algorithm with `d`'s hex.
bool HasSubjectDigest(const Statement& s, const Digest& d);

}  // namespace layerseal::sigstore::dsse

#endif  // LAYERSEAL_VERIFIER_SIGSTORE_DSSE_H_
