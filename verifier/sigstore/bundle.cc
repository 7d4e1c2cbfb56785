#include "verifier/sigstore/bundle.h"

#include <memory>
#include <set>
#include <string>
#include <utility>

#include <openssl/x509.h>

#include "absl/status/status.h"
#include "base/str_cat.h"
#include "verifier/sigstore/json.h"
#include "verifier/sigstore/trusted_root.h"

namespace layerseal::sigstore {
namespace {

using nlohmann::json;

absl::Status TooMany(std::string_view path, size_t n, std::string_view what, size_t limit) {
  return absl::ResourceExhaustedError(
      StrCat(path, ": ", n, " ", what, ", more than the limit of ", limit));
}

// Base64 bytes at obj.name: required and non-empty; at most `limit` bytes (ResourceExhausted).
absl::StatusOr<std::string> RequiredBytes(const json& obj, std::string_view path,
                                          std::string_view name, size_t limit) {
  absl::StatusOr<const json*> m = RequiredMember(obj, path, name);
  if (!m.ok()) return m.status();
  std::string p = JoinPath(path, name);
  absl::StatusOr<std::string> bytes = ProtoBytes(**m, p);
  if (!bytes.ok()) return bytes.status();
  if (bytes->empty()) return PathError(p, "is empty");
  if (bytes->size() > limit) return TooMany(p, bytes->size(), "bytes", limit);
  return bytes;
}

// An array member (absent or null: empty) of at most `limit` elements.
absl::StatusOr<const json*> ArrayMember(const json& obj, std::string_view path,
                                        std::string_view name, size_t limit, std::string_view what) {
  static const json kEmpty = json::array();
  const json* m = Member(obj, name);
  if (m == nullptr) return &kEmpty;
  std::string p = JoinPath(path, name);
  if (!m->is_array()) return PathError(p, StrCat("must be an array, not ", m->type_name()));
  if (m->size() > limit) return TooMany(p, m->size(), what, limit);
  return m;
}

// A certificate's DER at obj.rawBytes, checked to parse as one X.509 certificate.
absl::StatusOr<std::string> CertificateBytes(const json& obj, std::string_view path,
                                             std::shared_ptr<X509>* parsed) {
  absl::Status f = CheckFields(obj, path, {"rawBytes"});
  if (!f.ok()) return f;
  absl::StatusOr<std::string> der = RequiredBytes(obj, path, "rawBytes", kMaxCertificateBytes);
  if (!der.ok()) return der.status();
  absl::StatusOr<std::shared_ptr<X509>> cert = ParseCertificateDer(*der, JoinPath(path, "rawBytes"));
  if (!cert.ok()) return cert.status();
  if (parsed != nullptr) *parsed = *std::move(cert);
  return der;
}

absl::Status ParseMaterial(const json& vm, std::string_view path, Bundle& b) {
  absl::Status f = CheckFields(vm, path,
                               {"publicKey", "x509CertificateChain", "certificate", "tlogEntries",
                                "timestampVerificationData"});
  if (!f.ok()) return f;
  const json* key = Member(vm, "publicKey");
  const json* chain = Member(vm, "x509CertificateChain");
  const json* cert = Member(vm, "certificate");
  int n = (key != nullptr) + (chain != nullptr) + (cert != nullptr);
  if (n != 1) {
    return PathError(path, StrCat("needs exactly one of publicKey, x509CertificateChain and "
                                  "certificate, has ", n));
  }
  if (key != nullptr) {
    std::string p = JoinPath(path, "publicKey");
    absl::Status kf = CheckFields(*key, p, {"hint"});
    if (!kf.ok()) return kf;
    absl::StatusOr<std::string> hint = StringMember(*key, p, "hint", false);
    if (!hint.ok()) return hint.status();
    b.material = Bundle::Material::kPublicKey;
    b.public_key_hint = *std::move(hint);
  } else if (cert != nullptr) {
    absl::StatusOr<std::string> der = CertificateBytes(*cert, JoinPath(path, "certificate"), nullptr);
    if (!der.ok()) return der.status();
    b.material = Bundle::Material::kCertificate;
    b.certs_der.push_back(*std::move(der));
  } else {
    std::string p = JoinPath(path, "x509CertificateChain");
    if (b.version == BundleVersion::kV03) {
      return PathError(p, "a v0.3 bundle must not carry a certificate chain (use \"certificate\")");
    }
    absl::Status cf = CheckFields(*chain, p, {"certificates"});
    if (!cf.ok()) return cf;
    absl::StatusOr<const json*> certs =
        ArrayMember(*chain, p, "certificates", kMaxBundleChainCerts, "certificates");
    if (!certs.ok()) return certs.status();
    std::string cp = JoinPath(p, "certificates");
    if ((*certs)->empty()) return PathError(cp, "the certificate chain is empty");
    b.material = Bundle::Material::kChain;
    for (size_t i = 0; i < (*certs)->size(); ++i) {
      std::string ip = StrCat(cp, "[", i, "]");
      std::shared_ptr<X509> x;
      absl::StatusOr<std::string> der = CertificateBytes((**certs)[i], ip, &x);
      if (!der.ok()) return der.status();
      // The client spec takes roots out of band only: a bundle that ships one is refused.
      if (IsSelfSigned(x.get())) {
        return PathError(ip, "is a self-signed (root) certificate; a bundle must not carry roots");
      }
      b.certs_der.push_back(*std::move(der));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<InclusionProof> ParseProof(const json& j, std::string_view path) {
  absl::Status f = CheckFields(j, path, {"logIndex", "rootHash", "treeSize", "hashes", "checkpoint"});
  if (!f.ok()) return f;
  InclusionProof p;
  absl::StatusOr<const json*> idx = RequiredMember(j, path, "logIndex");
  if (!idx.ok()) return idx.status();
  absl::StatusOr<int64_t> log_index = ProtoInt64(**idx, JoinPath(path, "logIndex"));
  if (!log_index.ok()) return log_index.status();
  p.log_index = *log_index;
  absl::StatusOr<const json*> size = RequiredMember(j, path, "treeSize");
  if (!size.ok()) return size.status();
  absl::StatusOr<int64_t> tree_size = ProtoInt64(**size, JoinPath(path, "treeSize"));
  if (!tree_size.ok()) return tree_size.status();
  p.tree_size = *tree_size;
  absl::StatusOr<std::string> root = RequiredBytes(j, path, "rootHash", 64);
  if (!root.ok()) return root.status();
  if (root->size() != 32) {
    return PathError(JoinPath(path, "rootHash"), StrCat(root->size(), " bytes, not a SHA-256 hash"));
  }
  p.root_hash = *std::move(root);
  absl::StatusOr<const json*> hashes =
      ArrayMember(j, path, "hashes", kMaxInclusionProofHashes, "hashes");
  if (!hashes.ok()) return hashes.status();
  for (size_t i = 0; i < (*hashes)->size(); ++i) {
    std::string hp = StrCat(JoinPath(path, "hashes"), "[", i, "]");
    absl::StatusOr<std::string> h = ProtoBytes((**hashes)[i], hp);
    if (!h.ok()) return h.status();
    if (h->size() != 32) return PathError(hp, StrCat(h->size(), " bytes, not a SHA-256 hash"));
    p.hashes.push_back(*std::move(h));
  }
  // sigstore-go tlog.ParseTransparencyLogEntry: a proof without a checkpoint is refused.
  absl::StatusOr<const json*> cp = RequiredMember(j, path, "checkpoint");
  if (!cp.ok()) return cp.status();
  std::string cpath = JoinPath(path, "checkpoint");
  absl::Status cf = CheckFields(**cp, cpath, {"envelope"});
  if (!cf.ok()) return cf;
  absl::StatusOr<std::string> env = StringMember(**cp, cpath, "envelope", true);
  if (!env.ok()) return env.status();
  p.checkpoint = *std::move(env);
  return p;
}

absl::StatusOr<TlogEntry> ParseEntry(const json& j, std::string_view path, BundleVersion version) {
  absl::Status f = CheckFields(j, path,
                               {"logIndex", "logId", "kindVersion", "integratedTime",
                                "inclusionPromise", "inclusionProof", "canonicalizedBody"});
  if (!f.ok()) return f;
  TlogEntry e;
  absl::StatusOr<const json*> idx = RequiredMember(j, path, "logIndex");
  if (!idx.ok()) return idx.status();
  absl::StatusOr<int64_t> log_index = ProtoInt64(**idx, JoinPath(path, "logIndex"));
  if (!log_index.ok()) return log_index.status();
  if (*log_index < 0) return PathError(JoinPath(path, "logIndex"), StrCat(*log_index, " is negative"));
  e.log_index = *log_index;

  absl::StatusOr<const json*> log_id = RequiredMember(j, path, "logId");
  if (!log_id.ok()) return log_id.status();
  std::string lpath = JoinPath(path, "logId");
  absl::Status lf = CheckFields(**log_id, lpath, {"keyId"});
  if (!lf.ok()) return lf;
  absl::StatusOr<std::string> key_id = RequiredBytes(**log_id, lpath, "keyId", 64);
  if (!key_id.ok()) return key_id.status();
  e.log_id = *std::move(key_id);

  absl::StatusOr<const json*> kv = RequiredMember(j, path, "kindVersion");
  if (!kv.ok()) return kv.status();
  std::string kpath = JoinPath(path, "kindVersion");
  absl::Status kf = CheckFields(**kv, kpath, {"kind", "version"});
  if (!kf.ok()) return kf;
  absl::StatusOr<std::string> kind = StringMember(**kv, kpath, "kind", true);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::string> kversion = StringMember(**kv, kpath, "version", true);
  if (!kversion.ok()) return kversion.status();
  e.kind = *std::move(kind);
  e.version = *std::move(kversion);

  if (const json* t = Member(j, "integratedTime"); t != nullptr) {
    absl::StatusOr<int64_t> time = ProtoInt64(*t, JoinPath(path, "integratedTime"));
    if (!time.ok()) return time.status();
    if (*time < 0) return PathError(JoinPath(path, "integratedTime"), StrCat(*time, " is negative"));
    e.integrated_time = *time;
  }
  if (const json* promise = Member(j, "inclusionPromise"); promise != nullptr) {
    std::string ppath = JoinPath(path, "inclusionPromise");
    absl::Status pf = CheckFields(*promise, ppath, {"signedEntryTimestamp"});
    if (!pf.ok()) return pf;
    absl::StatusOr<std::string> set =
        RequiredBytes(*promise, ppath, "signedEntryTimestamp", kMaxSignatureBytes);
    if (!set.ok()) return set.status();
    e.set = *std::move(set);
  }
  if (const json* proof = Member(j, "inclusionProof"); proof != nullptr) {
    absl::StatusOr<InclusionProof> p = ParseProof(*proof, JoinPath(path, "inclusionProof"));
    if (!p.ok()) return p.status();
    e.proof = *std::move(p);
  }
  // sigstore-go bundle.validate: v0.1 bundles carry a promise (SET) on every entry; from v0.2
  // on, every entry carries an inclusion proof.
  if (version == BundleVersion::kV01 && !e.set.has_value()) {
    return PathError(JoinPath(path, "inclusionPromise"), "missing (required in a v0.1 bundle)");
  }
  if (version != BundleVersion::kV01 && !e.proof.has_value()) {
    return PathError(JoinPath(path, "inclusionProof"), "missing (required from bundle v0.2 on)");
  }
  absl::StatusOr<std::string> body =
      RequiredBytes(j, path, "canonicalizedBody", kMaxCanonicalizedBodyBytes);
  if (!body.ok()) return body.status();
  e.body = *std::move(body);
  return e;
}

absl::Status ParseTlog(const json& vm, std::string_view path, Bundle& b) {
  absl::StatusOr<const json*> entries = ArrayMember(vm, path, "tlogEntries", kMaxTlogEntries, "entries");
  if (!entries.ok()) return entries.status();
  std::set<std::pair<std::string, int64_t>> seen;
  for (size_t i = 0; i < (*entries)->size(); ++i) {
    std::string ep = StrCat(JoinPath(path, "tlogEntries"), "[", i, "]");
    absl::StatusOr<TlogEntry> e = ParseEntry((**entries)[i], ep, b.version);
    if (!e.ok()) return e.status();
    if (!seen.emplace(e->log_id, e->log_index).second) {
      return PathError(ep, StrCat("a second entry for log index ", e->log_index, " of the same log"));
    }
    b.tlog.push_back(*std::move(e));
  }
  return absl::OkStatus();
}

absl::Status ParseTimestamps(const json& vm, std::string_view path, Bundle& b) {
  const json* tvd = Member(vm, "timestampVerificationData");
  if (tvd == nullptr) return absl::OkStatus();
  std::string tpath = JoinPath(path, "timestampVerificationData");
  absl::Status f = CheckFields(*tvd, tpath, {"rfc3161Timestamps"});
  if (!f.ok()) return f;
  absl::StatusOr<const json*> list =
      ArrayMember(*tvd, tpath, "rfc3161Timestamps", kMaxRfc3161Timestamps, "timestamps");
  if (!list.ok()) return list.status();
  for (size_t i = 0; i < (*list)->size(); ++i) {
    std::string ip = StrCat(JoinPath(tpath, "rfc3161Timestamps"), "[", i, "]");
    absl::Status sf = CheckFields((**list)[i], ip, {"signedTimestamp"});
    if (!sf.ok()) return sf;
    absl::StatusOr<std::string> der =
        RequiredBytes((**list)[i], ip, "signedTimestamp", kMaxTimestampResponseBytes);
    if (!der.ok()) return der.status();
    b.timestamps.push_back(*std::move(der));
  }
  return absl::OkStatus();
}

absl::StatusOr<MessageSignature> ParseMessageSignature(const json& j, std::string_view path) {
  absl::Status f = CheckFields(j, path, {"messageDigest", "signature"});
  if (!f.ok()) return f;
  MessageSignature m;
  if (const json* md = Member(j, "messageDigest"); md != nullptr) {
    std::string mpath = JoinPath(path, "messageDigest");
    absl::Status mf = CheckFields(*md, mpath, {"algorithm", "digest"});
    if (!mf.ok()) return mf;
    absl::StatusOr<std::string> alg = StringMember(*md, mpath, "algorithm", false);
    if (!alg.ok()) return alg.status();
    m.digest_algorithm = *std::move(alg);
    if (const json* d = Member(*md, "digest"); d != nullptr) {
      std::string dpath = JoinPath(mpath, "digest");
      absl::StatusOr<std::string> digest = ProtoBytes(*d, dpath);
      if (!digest.ok()) return digest.status();
      if (digest->size() > 64) return TooMany(dpath, digest->size(), "bytes", 64);
      m.digest = *std::move(digest);
    }
  }
  absl::StatusOr<std::string> sig = RequiredBytes(j, path, "signature", kMaxSignatureBytes);
  if (!sig.ok()) return sig.status();
  m.signature = *std::move(sig);
  return m;
}

}  // namespace

std::optional<BundleVersion> BundleVersionOf(std::string_view media_type) {
  if (media_type == kBundleMediaTypeV01) return BundleVersion::kV01;
  if (media_type == kBundleMediaTypeV02) return BundleVersion::kV02;
  if (media_type == kBundleMediaTypeV03 || media_type == kBundleMediaTypeV03New) {
    return BundleVersion::kV03;
  }
  return std::nullopt;
}

absl::StatusOr<Bundle> ParseBundle(std::string_view text) {
  absl::StatusOr<json> doc = ParseJsonDocument(text, kMaxBundleBytes, "bundle");
  if (!doc.ok()) return doc.status();
  const json& j = *doc;
  absl::Status f = CheckFields(j, "", {"mediaType", "verificationMaterial", "messageSignature",
                                       "dsseEnvelope"});
  if (!f.ok()) return f;
  Bundle b;
  absl::StatusOr<std::string> mt = StringMember(j, "", "mediaType", true);
  if (!mt.ok()) return mt.status();
  std::optional<BundleVersion> version = BundleVersionOf(*mt);
  if (!version.has_value()) {
    return PathError("mediaType", StrCat("\"", *mt, "\" is not a supported sigstore bundle media "
                                         "type (v0.1, v0.2, v0.3)"));
  }
  b.version = *version;
  b.media_type = *std::move(mt);

  const json* message = Member(j, "messageSignature");
  const json* envelope = Member(j, "dsseEnvelope");
  if ((message != nullptr) == (envelope != nullptr)) {
    return PathError("bundle", "needs exactly one of messageSignature and dsseEnvelope");
  }
  absl::StatusOr<const json*> vm = RequiredMember(j, "", "verificationMaterial");
  if (!vm.ok()) return vm.status();
  if (absl::Status s = ParseMaterial(**vm, "verificationMaterial", b); !s.ok()) return s;
  if (absl::Status s = ParseTlog(**vm, "verificationMaterial", b); !s.ok()) return s;
  if (absl::Status s = ParseTimestamps(**vm, "verificationMaterial", b); !s.ok()) return s;

  if (message != nullptr) {
    absl::StatusOr<MessageSignature> m = ParseMessageSignature(*message, "messageSignature");
    if (!m.ok()) return m.status();
    b.message = *std::move(m);
  } else {
    absl::StatusOr<dsse::Envelope> e = dsse::ParseEnvelope(*envelope, "dsseEnvelope");
    if (!e.ok()) return e.status();
    // The client spec leaves envelopes with several signatures out of scope.
    if (e->signatures.size() != 1) {
      return PathError("dsseEnvelope.signatures",
                       StrCat("has ", e->signatures.size(), " signatures; a bundle carries exactly one"));
    }
    b.dsse = *std::move(e);
  }
  return b;
}

}  // namespace layerseal::sigstore
