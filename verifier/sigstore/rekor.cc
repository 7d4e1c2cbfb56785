#include "verifier/sigstore/rekor.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/manifest.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/signature.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;

// How a body spells its members: Rekor v1 bodies are Go JSON with fixed names; Rekor v2
// bodies are protojson, which reads lowerCamel and snake_case alike.
enum class Spelling { kExact, kProto };


// The member `name` of the object `j` at `path`; InvalidArgument naming the path when `j` is
// not an object, or the member is absent (or given in both spellings).
absl::StatusOr<const json*> Get(const json& j, std::string_view path, std::string_view name,
                                Spelling s) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(StrCat("entry body: ", path.empty() ? "the body" : path, " is not an object"));
  }
  auto it = j.find(std::string(name));
  if (s == Spelling::kProto) {
    std::string snake = SnakeCase(name);
    if (snake != name) {
      auto it2 = j.find(snake);
      if (it != j.end() && it2 != j.end()) {
        return absl::InvalidArgumentError(
            StrCat("entry body: ", JoinPath(path, name), " is given twice (", name, " and ", snake, ")"));
      }
      if (it == j.end()) it = it2;
    }
  }
  if (it == j.end()) return absl::InvalidArgumentError(StrCat("entry body: ", JoinPath(path, name), " is missing"));
  return &*it;
}

absl::StatusOr<std::string> GetString(const json& j, std::string_view path, std::string_view name,
                                      Spelling s) {
  absl::StatusOr<const json*> m = Get(j, path, name, s);
  if (!m.ok()) return m.status();
  if (!(*m)->is_string()) {
    return absl::InvalidArgumentError(StrCat("entry body: ", JoinPath(path, name), " is not a string"));
  }
  return (*m)->get<std::string>();
}

// A base64 member (standard alphabet, padded: what Go's encoding/json and protojson write).
absl::StatusOr<std::string> GetBytes(const json& j, std::string_view path, std::string_view name,
                                     Spelling s) {
  absl::StatusOr<std::string> text = GetString(j, path, name, s);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> bytes = Base64Decode(*text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        StrCat("entry body: ", JoinPath(path, name), ": ", bytes.status().message()));
  }
  return bytes;
}

absl::StatusOr<std::string> HexMember(std::string_view hex, std::string_view path) {
  std::optional<std::string> out = layerseal::HexDecode(hex);
  if (!out) return absl::InvalidArgumentError(StrCat("entry body: ", path, " is not hex"));
  return *std::move(out);
}

// The digest size of a Rekor v1 hash algorithm name; 0 for an unknown one.
size_t DigestSize(std::string_view alg) {
  if (alg == "sha256") return 32;
  if (alg == "sha384") return 48;
  if (alg == "sha512") return 64;
  return 0;
}

// {"algorithm": "sha256", "value": "<hex>"} (Rekor v1) into (alg, raw digest).
absl::Status ReadHexHash(const json& j, std::string_view path, std::string* alg, std::string* digest) {
  absl::StatusOr<std::string> a = GetString(j, path, "algorithm", Spelling::kExact);
  if (!a.ok()) return a.status();
  size_t want = DigestSize(*a);
  if (want == 0) {
    return absl::InvalidArgumentError(StrCat("entry body: ", path, ".algorithm \"", *a,
                                             "\" is not sha256, sha384 or sha512"));
  }
  absl::StatusOr<std::string> v = GetString(j, path, "value", Spelling::kExact);
  if (!v.ok()) return v.status();
  absl::StatusOr<std::string> raw = HexMember(*v, JoinPath(path, "value"));
  if (!raw.ok()) return raw.status();
  if (raw->size() != want) {
    return absl::InvalidArgumentError(
        StrCat("entry body: ", path, ".value has ", raw->size(), " bytes; ", *a, " has ", want));
  }
  *alg = *a;
  *digest = *std::move(raw);
  return absl::OkStatus();
}

// Whole-input DER checks: a certificate, or a SubjectPublicKeyInfo.
absl::Status CheckDer(std::string_view der, bool is_cert, std::string_view path) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* start = p;
  bool ok = false;
  if (is_cert) {
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    ok = x != nullptr && static_cast<size_t>(p - start) == der.size();
    X509_free(x);
  } else {
    EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
    ok = k != nullptr && static_cast<size_t>(p - start) == der.size();
    EVP_PKEY_free(k);
  }
  ERR_clear_error();
  if (!ok) {
    return absl::InvalidArgumentError(StrCat("entry body: ", path, " is not a DER ",
                                             is_cert ? "certificate" : "SubjectPublicKeyInfo"));
  }
  return absl::OkStatus();
}

// Rekor v1 verifiers are base64(PEM) of one certificate or one public key: their DER.
absl::Status PemToDer(std::string_view pem, std::string_view path, std::string* der, bool* is_cert) {
  if (pem.substr(0, 11) != "-----BEGIN ") {
    return absl::InvalidArgumentError(StrCat("entry body: ", path, " is not PEM"));
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                 BIO_free);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (bio == nullptr || PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(StrCat("entry body: ", path, " is not PEM"));
  }
  std::string type(name);
  bool has_header = header != nullptr && header[0] != '\0';
  std::string bytes(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (has_header) return absl::InvalidArgumentError(StrCat("entry body: ", path, " has PEM headers"));
  // Only whitespace may follow the one block.
  char rest[256];
  int n;
  while ((n = BIO_read(bio.get(), rest, sizeof(rest))) > 0) {
    for (int i = 0; i < n; ++i) {
      if (rest[i] != '\n' && rest[i] != '\r' && rest[i] != ' ' && rest[i] != '\t') {
        return absl::InvalidArgumentError(StrCat("entry body: ", path, " holds more than one PEM block"));
      }
    }
  }
  if (type == "CERTIFICATE") {
    *is_cert = true;
  } else if (type == "PUBLIC KEY") {
    *is_cert = false;
  } else {
    return absl::InvalidArgumentError(
        StrCat("entry body: ", path, " is a PEM \"", type, "\", not a CERTIFICATE or PUBLIC KEY"));
  }
  absl::Status st = CheckDer(bytes, *is_cert, path);
  if (!st.ok()) return st;
  *der = std::move(bytes);
  return absl::OkStatus();
}

// A base64(PEM) member into its DER.
absl::Status ReadPemVerifier(const json& j, std::string_view path, std::string_view name,
                             EntryBody* out) {
  absl::StatusOr<std::string> pem = GetBytes(j, path, name, Spelling::kExact);
  if (!pem.ok()) return pem.status();
  std::string der;
  bool is_cert = false;
  absl::Status st = PemToDer(*pem, JoinPath(path, name), &der, &is_cert);
  if (!st.ok()) return st;
  out->verifiers_der.push_back(std::move(der));
  out->verifier_is_cert.push_back(is_cert);
  return absl::OkStatus();
}

absl::Status CheckSignatureSize(const std::string& sig, std::string_view path) {
  if (sig.empty()) return absl::InvalidArgumentError(StrCat("entry body: ", path, " is empty"));
  if (sig.size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError(
        StrCat("entry body: ", path, " has ", sig.size(), " bytes (kMaxSignatureBytes ", kMaxSignatureBytes, ")"));
  }
  return absl::OkStatus();
}

// hashedrekord 0.0.1: spec.data.hash {algorithm, value(hex)}, spec.signature.content (base64),
// spec.signature.publicKey.content (base64 PEM: certificate or key).
absl::Status ParseHashedRekord001(const json& spec, EntryBody* out) {
  absl::StatusOr<const json*> data = Get(spec, "spec", "data", Spelling::kExact);
  if (!data.ok()) return data.status();
  absl::StatusOr<const json*> hash = Get(**data, "spec.data", "hash", Spelling::kExact);
  if (!hash.ok()) return hash.status();
  absl::Status st = ReadHexHash(**hash, "spec.data.hash", &out->digest_alg, &out->digest);
  if (!st.ok()) return st;
  absl::StatusOr<const json*> sig = Get(spec, "spec", "signature", Spelling::kExact);
  if (!sig.ok()) return sig.status();
  absl::StatusOr<std::string> content = GetBytes(**sig, "spec.signature", "content", Spelling::kExact);
  if (!content.ok()) return content.status();
  st = CheckSignatureSize(*content, "spec.signature.content");
  if (!st.ok()) return st;
  out->signatures.push_back(*std::move(content));
  absl::StatusOr<const json*> key = Get(**sig, "spec.signature", "publicKey", Spelling::kExact);
  if (!key.ok()) return key.status();
  return ReadPemVerifier(**key, "spec.signature.publicKey", "content", out);
}

// The signatures array of a dsse 0.0.1/0.0.2 or intoto 0.0.2 body.
absl::StatusOr<const json*> GetSignatures(const json& j, std::string_view path,
                                          Spelling s = Spelling::kExact) {
  absl::StatusOr<const json*> sigs = Get(j, path, "signatures", s);
  if (!sigs.ok()) return sigs;
  std::string where = JoinPath(path, "signatures");
  if (!(*sigs)->is_array() || (*sigs)->empty()) {
    return absl::InvalidArgumentError(StrCat("entry body: ", where, " is not a non-empty array"));
  }
  if ((*sigs)->size() > dsse::kMaxEnvelopeSignatures) {
    return absl::InvalidArgumentError(StrCat("entry body: ", where, " has ", (*sigs)->size(),
                                             " signatures (kMaxEnvelopeSignatures ",
                                             dsse::kMaxEnvelopeSignatures, ")"));
  }
  return sigs;
}

// dsse 0.0.1: spec.envelopeHash, spec.payloadHash {algorithm, value(hex)},
// spec.signatures[] {signature (base64), verifier (base64 PEM)}.
absl::Status ParseDsse001(const json& spec, EntryBody* out) {
  absl::StatusOr<const json*> ph = Get(spec, "spec", "payloadHash", Spelling::kExact);
  if (!ph.ok()) return ph.status();
  absl::Status st = ReadHexHash(**ph, "spec.payloadHash", &out->digest_alg, &out->digest);
  if (!st.ok()) return st;
  if (spec.is_object() && spec.contains("envelopeHash")) {
    std::string alg;
    st = ReadHexHash(spec["envelopeHash"], "spec.envelopeHash", &alg, &out->envelope_hash);
    if (!st.ok()) return st;
  }
  absl::StatusOr<const json*> sigs = GetSignatures(spec, "spec");
  if (!sigs.ok()) return sigs.status();
  for (size_t i = 0; i < (*sigs)->size(); ++i) {
    std::string path = StrCat("spec.signatures[", i, "]");
    const json& s = (**sigs)[i];
    absl::StatusOr<std::string> sig = GetBytes(s, path, "signature", Spelling::kExact);
    if (!sig.ok()) return sig.status();
    st = CheckSignatureSize(*sig, JoinPath(path, "signature"));
    if (!st.ok()) return st;
    out->signatures.push_back(*std::move(sig));
    st = ReadPemVerifier(s, path, "verifier", out);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// intoto 0.0.2: spec.content.payloadHash {algorithm, value(hex)},
// spec.content.envelope.signatures[] {sig: base64(base64(signature)), publicKey: base64 PEM}.
absl::Status ParseIntoto002(const json& spec, EntryBody* out) {
  absl::StatusOr<const json*> content = Get(spec, "spec", "content", Spelling::kExact);
  if (!content.ok()) return content.status();
  absl::StatusOr<const json*> ph = Get(**content, "spec.content", "payloadHash", Spelling::kExact);
  if (!ph.ok()) return ph.status();
  absl::Status st = ReadHexHash(**ph, "spec.content.payloadHash", &out->digest_alg, &out->digest);
  if (!st.ok()) return st;
  absl::StatusOr<const json*> env = Get(**content, "spec.content", "envelope", Spelling::kExact);
  if (!env.ok()) return env.status();
  absl::StatusOr<const json*> sigs = GetSignatures(**env, "spec.content.envelope");
  if (!sigs.ok()) return sigs.status();
  for (size_t i = 0; i < (*sigs)->size(); ++i) {
    std::string path = StrCat("spec.content.envelope.signatures[", i, "]");
    const json& s = (**sigs)[i];
    absl::StatusOr<std::string> once = GetBytes(s, path, "sig", Spelling::kExact);
    if (!once.ok()) return once.status();
    // The intoto type stores the envelope's own base64 text, base64-encoded again. A recorded
    // text that is not base64 is no signature at all: it is kept as an empty signature, which
    // equals no bundle signature (the entry then does not match: TLOG_MISMATCH, as in
    // sigstore-js and sigstore-go, which compare without decoding it strictly).
    absl::StatusOr<std::string> sig = Base64Decode(*once);
    if (sig.ok()) {
      st = CheckSignatureSize(*sig, JoinPath(path, "sig"));
      if (!st.ok()) return st;
      out->signatures.push_back(*std::move(sig));
    } else {
      if (once->size() > 2 * kMaxSignatureBytes) {
        return absl::InvalidArgumentError(StrCat("entry body: ", path, ".sig has ", once->size(),
                                                 " bytes (kMaxSignatureBytes ", kMaxSignatureBytes, ")"));
      }
      out->signatures.emplace_back();
    }
    st = ReadPemVerifier(s, path, "publicKey", out);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// A Rekor v2 HashOutput {algorithm: "SHA2_256" | "SHA2_384" | "SHA2_512", digest (base64)}
// at `path` into (Rekor v1 algorithm name, raw digest of its size).
absl::Status ReadHashOutput002(const json& j, const std::string& path, EntryBody* out) {
  constexpr Spelling kP = Spelling::kProto;
  absl::StatusOr<std::string> alg = GetString(j, path, "algorithm", kP);
  if (!alg.ok()) return alg.status();
  if (*alg == "SHA2_256") {
    out->digest_alg = "sha256";
  } else if (*alg == "SHA2_384") {
    out->digest_alg = "sha384";
  } else if (*alg == "SHA2_512") {
    out->digest_alg = "sha512";
  } else {
    return absl::InvalidArgumentError(StrCat("entry body: ", path, ".algorithm \"", *alg,
                                             "\" is not SHA2_256, SHA2_384 or SHA2_512"));
  }
  absl::StatusOr<std::string> digest = GetBytes(j, path, "digest", kP);
  if (!digest.ok()) return digest.status();
  if (digest->size() != DigestSize(out->digest_alg)) {
    return absl::InvalidArgumentError(StrCat("entry body: ", path, ".digest has ", digest->size(),
                                             " bytes; ", *alg, " has ", DigestSize(out->digest_alg)));
  }
  out->digest = *std::move(digest);
  return absl::OkStatus();
}

// A Rekor v2 Signature {content (base64), verifier {publicKey {rawBytes} | x509Certificate
// {rawBytes}, keyDetails}} at `path`: appends its signature and verifier DER to `out`.
absl::Status ReadSignature002(const json& sig, const std::string& path, EntryBody* out) {
  constexpr Spelling kP = Spelling::kProto;
  absl::StatusOr<std::string> content = GetBytes(sig, path, "content", kP);
  if (!content.ok()) return content.status();
  absl::Status st = CheckSignatureSize(*content, path + ".content");
  if (!st.ok()) return st;
  const std::string vpath = path + ".verifier";
  absl::StatusOr<const json*> verifier = Get(sig, path, "verifier", kP);
  if (!verifier.ok()) return verifier.status();
  absl::StatusOr<const json*> cert = Get(**verifier, vpath, "x509Certificate", kP);
  absl::StatusOr<const json*> key = Get(**verifier, vpath, "publicKey", kP);
  if (cert.ok() == key.ok()) {
    return absl::InvalidArgumentError(
        StrCat("entry body: ", vpath, " must hold exactly one of x509Certificate and publicKey"));
  }
  bool is_cert = cert.ok();
  const json& holder = is_cert ? **cert : **key;
  std::string hpath = JoinPath(vpath, is_cert ? "x509Certificate" : "publicKey");
  absl::StatusOr<std::string> der = GetBytes(holder, hpath, "rawBytes", kP);
  if (!der.ok()) return der.status();
  if (der->size() > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(StrCat("entry body: ", hpath, ".rawBytes has ", der->size(),
                                             " bytes (kMaxCertificateBytes ", kMaxCertificateBytes, ")"));
  }
  st = CheckDer(*der, is_cert, hpath + ".rawBytes");
  if (!st.ok()) return st;
  out->signatures.push_back(*std::move(content));
  out->verifiers_der.push_back(*std::move(der));
  out->verifier_is_cert.push_back(is_cert);
  return absl::OkStatus();
}

// hashedrekord 0.0.2 (Rekor v2, protojson of dev.sigstore.rekor.v2.HashedRekordLogEntryV002):
// spec.hashedRekordV002.data (a HashOutput), spec.hashedRekordV002.signature (a Signature).
// Raw bytes are DER.
absl::Status ParseHashedRekord002(const json& spec, EntryBody* out) {
  constexpr Spelling kP = Spelling::kProto;
  absl::StatusOr<const json*> hr = Get(spec, "spec", "hashedRekordV002", kP);
  if (!hr.ok()) return hr.status();
  const std::string base = "spec.hashedRekordV002";
  absl::StatusOr<const json*> data = Get(**hr, base, "data", kP);
  if (!data.ok()) return data.status();
  absl::Status st = ReadHashOutput002(**data, base + ".data", out);
  if (!st.ok()) return st;
  absl::StatusOr<const json*> sig = Get(**hr, base, "signature", kP);
  if (!sig.ok()) return sig.status();
  return ReadSignature002(**sig, base + ".signature", out);
}

// dsse 0.0.2 (Rekor v2, protojson of dev.sigstore.rekor.v2.DSSELogEntryV002):
// spec.dsseV002.payloadHash (a HashOutput of the envelope's payload),
// spec.dsseV002.signatures[] (Signatures: content is the envelope signature's raw bytes).
absl::Status ParseDsse002(const json& spec, EntryBody* out) {
  constexpr Spelling kP = Spelling::kProto;
  absl::StatusOr<const json*> d = Get(spec, "spec", "dsseV002", kP);
  if (!d.ok()) return d.status();
  const std::string base = "spec.dsseV002";
  absl::StatusOr<const json*> ph = Get(**d, base, "payloadHash", kP);
  if (!ph.ok()) return ph.status();
  absl::Status st = ReadHashOutput002(**ph, base + ".payloadHash", out);
  if (!st.ok()) return st;
  absl::StatusOr<const json*> sigs = GetSignatures(**d, base, kP);
  if (!sigs.ok()) return sigs.status();
  for (size_t i = 0; i < (*sigs)->size(); ++i) {
    st = ReadSignature002((**sigs)[i], StrCat(base, ".signatures[", i, "]"), out);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EntryBody> ParseEntryBody(const TlogEntry& e) {
  BodyKind kind;
  if (e.kind == "hashedrekord" && e.version == "0.0.1") {
    kind = BodyKind::kHashedRekord001;
  } else if (e.kind == "dsse" && e.version == "0.0.1") {
    kind = BodyKind::kDsse001;
  } else if (e.kind == "intoto" && e.version == "0.0.2") {
    kind = BodyKind::kIntoto002;
  } else if (e.kind == "hashedrekord" && e.version == "0.0.2") {
    kind = BodyKind::kHashedRekord002;
  } else if (e.kind == "dsse" && e.version == "0.0.2") {
    kind = BodyKind::kDsse002;
  } else {
    return absl::InvalidArgumentError(StrCat("entry kindVersion ", e.kind, " ", e.version,
                                             " is not hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2 or intoto 0.0.2"));
  }
  if (e.body.size() > kMaxCanonicalizedBodyBytes) {
    return absl::InvalidArgumentError(StrCat("entry body has ", e.body.size(),
                                             " bytes (kMaxCanonicalizedBodyBytes ", kMaxCanonicalizedBodyBytes, ")"));
  }
  absl::StatusOr<json> j = ParseStrictJson(e.body, kMaxCanonicalizedBodyBytes);
  if (!j.ok()) return absl::InvalidArgumentError(StrCat("entry body: ", j.status().message()));
  const bool rekor_v2 = kind == BodyKind::kHashedRekord002 || kind == BodyKind::kDsse002;
  Spelling s = rekor_v2 ? Spelling::kProto : Spelling::kExact;
  absl::StatusOr<std::string> body_kind = GetString(*j, "", "kind", s);
  if (!body_kind.ok()) return body_kind.status();
  absl::StatusOr<std::string> api_version = GetString(*j, "", "apiVersion", s);
  if (!api_version.ok()) return api_version.status();
  if (*body_kind != e.kind || *api_version != e.version) {
    return absl::InvalidArgumentError(StrCat("entry body is ", *body_kind, " ", *api_version,
                                             " but the entry's kindVersion says ", e.kind, " ", e.version));
  }
  absl::StatusOr<const json*> spec = Get(*j, "", "spec", s);
  if (!spec.ok()) return spec.status();
  EntryBody out;
  out.kind = kind;
  absl::Status st;
  switch (kind) {
    case BodyKind::kHashedRekord001: st = ParseHashedRekord001(**spec, &out); break;
    case BodyKind::kDsse001: st = ParseDsse001(**spec, &out); break;
    case BodyKind::kIntoto002: st = ParseIntoto002(**spec, &out); break;
    case BodyKind::kHashedRekord002: st = ParseHashedRekord002(**spec, &out); break;
    case BodyKind::kDsse002: st = ParseDsse002(**spec, &out); break;
  }
  if (!st.ok()) return st;
  return out;
}

std::string SetPayload(const TlogEntry& e) {
  // RFC 8785 canonical JSON of four members, sorted; none of the values needs escaping (base64,
  // decimal integers, lowercase hex).
  return StrCat("{\"body\":\"", Base64Encode(e.body), "\",\"integratedTime\":", e.integrated_time,
                ",\"logID\":\"", HexEncode(e.log_id), "\",\"logIndex\":", e.log_index, "}");
}

absl::Status VerifySet(const TlogEntry& e, const LogKey& log) {
  if (!e.set.has_value() || e.set->empty()) {
    return absl::PermissionDeniedError("the entry has no signed entry timestamp (SET)");
  }
  absl::Time t = absl::FromUnixSeconds(e.integrated_time);
  if (!log.valid_for.Contains(t)) {
    return absl::PermissionDeniedError(StrCat("integratedTime ", absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()),
                                              " is outside the log key's validFor"));
  }
  if (log.key == nullptr) return absl::PermissionDeniedError("SET: the log has no public key");
  absl::Status st = VerifyMessage(log.key.get(), SetPayload(e), *e.set);
  if (!st.ok()) return absl::PermissionDeniedError(StrCat("SET: ", st.message()));
  return absl::OkStatus();
}

std::string LeafHash(std::string_view body) {
  std::string in;
  in.reserve(body.size() + 1);
  in.push_back('\0');
  in.append(body);
  return Sha256(in);
}

namespace {
std::string NodeHash(std::string_view left, std::string_view right) {
  std::string in;
  in.reserve(1 + left.size() + right.size());
  in.push_back('\x01');
  in.append(left);
  in.append(right);
  return Sha256(in);
}
}  // namespace

absl::Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t size,
                             const std::vector<std::string>& path, std::string_view root) {
  if (index >= size) {
    return absl::PermissionDeniedError(StrCat("inclusion proof: index ", index, " is not below the tree size ", size));
  }
  if (path.size() > kMaxInclusionProofHashes) {
    return absl::PermissionDeniedError(StrCat("inclusion proof: ", path.size(),
                                              " hashes (kMaxInclusionProofHashes ", kMaxInclusionProofHashes, ")"));
  }
  if (leaf_hash.size() != 32 || root.size() != 32) {
    return absl::PermissionDeniedError("inclusion proof: the leaf hash and root must be 32 bytes");
  }
  // RFC 9162 §2.1.3.2.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  std::string r(leaf_hash);
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& p = path[i];
    if (p.size() != 32) {
      return absl::PermissionDeniedError(StrCat("inclusion proof: hash ", i, " has ", p.size(), " bytes, not 32"));
    }
    if (sn == 0) {
      return absl::PermissionDeniedError(StrCat("inclusion proof: ", path.size(), " hashes is too many for index ",
                                                index, " in a tree of ", size));
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::PermissionDeniedError(StrCat("inclusion proof: ", path.size(), " hashes is too few for index ",
                                              index, " in a tree of ", size));
  }
  if (CRYPTO_memcmp(r.data(), root.data(), 32) != 0) {
    return absl::PermissionDeniedError("inclusion proof: the computed root does not equal the tree's root hash");
  }
  return absl::OkStatus();
}

}  // namespace layerseal::sigstore
