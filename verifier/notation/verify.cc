// verifier/notation/verify.h: implementation (issue 20). The steps of
// specs/trust-store-trust-policy.md "Signature Verification" in verify.h's order; each check's
// failure either decides (enforced) or is recorded in Result::logged (logged) and the next
// step runs.
#include "verifier/notation/verify.h"

#include <openssl/x509.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "base/str_cat.h"
#include "verifier/notation/internal/timestamp_chain.h"
#include "verifier/notation/timestamp.h"
#include "verifier/notation/x509.h"
#include "verifier/internal/openssl_util.h"

namespace layerseal::notation {
namespace vfyimpl {


// How many trusted identities an UNTRUSTED_IDENTITY detail lists before "and N more".
constexpr size_t kIdentitiesInDetail = 4;

// The judgement being built; a failed check either decides it or is logged.
class Judgement {
 public:
  Result& result() { return r_; }
  // Enforced: the result is this DENY (true: stop). Logged: "<check>: <message>" is recorded
  // (false: go on). Skipped: nothing.
  bool Fail(Action action, Reason reason, int step, std::string_view check, std::string message) {
    if (action == Action::kEnforce) {
      r_.reason = reason;
      r_.step = step;
      r_.detail = std::move(message);
      return true;
    }
    if (action == Action::kLog) r_.logged.push_back(StrCat(check, ": ", message));
    return false;
  }
  // Always-enforced checks (parse, integrity).
  Result Deny(Reason reason, int step, std::string message) {
    Fail(Action::kEnforce, reason, step, "", std::move(message));
    return std::move(r_);
  }

 private:
  Result r_;
};

std::string StoreList(const NotationTrust& trust) {
  std::string out;
  for (const auto& s : trust.stores) {
    if (s == nullptr) continue;
    if (!out.empty()) out += ", ";
    out += StrCat(s->name, " (", StoreTypeName(s->type), ")");
  }
  return out.empty() ? "none" : out;
}

std::vector<std::string> StoreNames(const NotationTrust& trust, StoreType type) {
  std::vector<std::string> out;
  for (const auto& s : trust.stores) {
    if (s != nullptr && s->type == type) out.push_back(s->name);
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += out.empty() ? n : StrCat(", ", n);
  return out;
}

const TrustStore* FindStore(const NotationTrust& trust, const std::string& name, StoreType type) {
  for (const auto& s : trust.stores) {
    if (s != nullptr && s->type == type && s->name == name) return s.get();
  }
  return nullptr;
}

// The issuer DN of `leaf` in SubjectText's form: the subject of the certificate among
// `candidates` that issued it (or the leaf's own when self-issued); else OpenSSL's one-line
// RFC 2253 form of the issuer name.
std::string IssuerText(const std::string& leaf_der, const std::vector<std::string>& candidates) {
  ossl::ClearErrorsOnExit clear;
  ossl::X509Ptr leaf = ossl::ParseCertDer(leaf_der);
  if (leaf == nullptr) return "";
  if (X509_check_issued(leaf.get(), leaf.get()) == X509_V_OK) return SubjectText(leaf_der);
  for (const std::string& der : candidates) {
    ossl::X509Ptr c = ossl::ParseCertDer(der);
    if (c != nullptr && X509_check_issued(c.get(), leaf.get()) == X509_V_OK) {
      return SubjectText(der);
    }
  }
  char buf[512];
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio, X509_get_issuer_name(leaf.get()), 0,
                     XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253);
  int n = BIO_read(bio, buf, sizeof(buf));
  BIO_free(bio);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string IdentityList(const std::vector<TrustedIdentity>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kIdentitiesInDetail; ++i) {
    out += StrCat(i == 0 ? "" : "; ", "\"", ids[i].text, "\"");
  }
  if (ids.size() > kIdentitiesInDetail) {
    out += StrCat("; and ", ids.size() - kIdentitiesInDetail, " more");
  }
  return out.empty() ? "none" : out;
}

// Step 3: the payload's targetArtifact against the image. "" when equal.
std::string TargetMismatch(const TargetArtifact& got, const Target& want) {
  if (!(got.digest == want.digest)) {
    return StrCat("signed payload targetArtifact digest is ", got.digest.str(),
                  "; the image's is ", want.digest.str());
  }
  if (got.media_type != want.media_type) {
    return StrCat("signed payload targetArtifact mediaType is \"", got.media_type,
                  "\"; the image's is \"", want.media_type, "\"");
  }
  if (got.size != want.size) {
    return StrCat("signed payload targetArtifact size is ", got.size, "; the image's is ",
                  want.size);
  }
  return "";
}

std::string DurationText(absl::Duration d) { return absl::FormatDuration(d); }

// The signing chain's validity period: ChainResult's (every certificate of the verified chain
// and of the envelope) when authenticity held, else the envelope's certificates'. Certificates
// are parsed again only to name the one a time falls outside of.
class ChainValidity {
 public:
  static absl::StatusOr<ChainValidity> Make(const std::optional<ChainResult>& chain,
                                            const std::vector<std::string>& envelope_certs) {
    ChainValidity v;
    if (chain.has_value()) {
      v.ders_ = chain->chain_der;
      for (const std::string& c : envelope_certs) {
        if (std::find(v.ders_.begin(), v.ders_.end(), c) == v.ders_.end()) v.ders_.push_back(c);
      }
      v.not_before_ = chain->not_before;
      v.not_after_ = chain->not_after;
      return v;
    }
    v.ders_ = envelope_certs;
    absl::StatusOr<std::vector<internal::CertificateWindow>> w =
        internal::CertificateWindows(v.ders_);
    if (!w.ok()) return w.status();
    v.not_before_ = absl::InfinitePast();
    v.not_after_ = absl::InfiniteFuture();
    for (const internal::CertificateWindow& c : *w) {
      v.not_before_ = std::max(v.not_before_, c.not_before);
      v.not_after_ = std::min(v.not_after_, c.not_after);
    }
    return v;
  }
  bool ExpiredAt(absl::Time t) const { return t > not_after_; }
  // "" when [lower, upper] lies within the validity; else which certificate it leaves.
  std::string Outside(absl::Time lower, absl::Time upper, std::string_view what) const {
    if (lower >= not_before_ && upper <= not_after_) return "";
    absl::StatusOr<std::vector<internal::CertificateWindow>> w =
        internal::CertificateWindows(ders_);
    std::string named = w.ok() ? internal::OutsideWindows(*w, lower, upper, what) : "";
    if (!named.empty()) return named;
    return StrCat(what, " [", internal::FormatTimeUtc(lower), ", ",
                  internal::FormatTimeUtc(upper), "] is outside the signing chain's validity [",
                  internal::FormatTimeUtc(not_before_), ", ",
                  internal::FormatTimeUtc(not_after_), "]");
  }

 private:
  std::vector<std::string> ders_;
  absl::Time not_before_;
  absl::Time not_after_;
};

struct RevocationFinding {
  RevocationStatus status;
  std::string message;
};

}  // namespace vfyimpl

Result VerifySignature(std::string_view envelope_bytes, std::string_view media_type,
                       const Target& target, const NotationTrust& trust, absl::Time now) {
  using internal::FormatTimeUtc;
  using vfyimpl::Judgement;
  Judgement j;
  if (trust.level == Level::kSkip) {
    j.result().reason = Reason::kVerified;
    j.result().detail = "notation verification level skip";
    return std::move(j.result());
  }

  // 1. Parse.
  absl::StatusOr<Envelope> env = ParseEnvelope(envelope_bytes, media_type);
  if (!env.ok()) {
    Reason reason = absl::IsResourceExhausted(env.status()) ? Reason::kLimitExceeded
                                                            : Reason::kMalformedSignature;
    return j.Deny(reason, 1,
                  StrCat("notation signature (", media_type, "): ", Sv(env.status().message())));
  }
  const std::string sig_name = StrCat("notation ", FormatName(env->format), " signature");
  if (!env->verification_plugin.empty()) {
    return j.Deny(
        Reason::kMalformedSignature, 1,
        StrCat(sig_name, " requires verification plugin ", env->verification_plugin,
               env->verification_plugin_min_version.empty()
                   ? std::string()
                   : StrCat(" (minimum version ", env->verification_plugin_min_version, ")"),
               ", which layerseal does not run"));
  }
  if (env->certs_der.empty()) {
    return j.Deny(Reason::kMalformedSignature, 1, StrCat(sig_name, " carries no certificate"));
  }
  const std::string& leaf = env->certs_der.front();
  const std::string leaf_subject = SubjectText(leaf);

  // 2. Integrity: the signature by the leaf's key.
  if (absl::Status s = VerifyEnvelopeSignature(*env); !s.ok()) {
    return j.Deny(Reason::kBadSignature, 2,
                  StrCat(sig_name, " (", AlgorithmName(env->algorithm), ") by certificate \"",
                         leaf_subject, "\" does not verify: ", Sv(s.message())));
  }
  // 3. Integrity: the signed payload names this image.
  if (std::string m = vfyimpl::TargetMismatch(env->target, target); !m.empty()) {
    return j.Deny(Reason::kSubjectMismatch, 3, StrCat(sig_name, ": ", m));
  }

  // 4. Authenticity: the chain leads to a store of the scheme's type.
  const Actions& act = trust.actions;
  const StoreType chain_type = env->scheme == SigningScheme::kX509
                                   ? StoreType::kCa
                                   : StoreType::kSigningAuthority;
  std::optional<ChainResult> chain;
  if (vfyimpl::StoreNames(trust, chain_type).empty()) {
    if (j.Fail(act.authenticity, Reason::kUntrustedCertificate, 4, "authenticity",
               StrCat(sig_name, " uses signing scheme ", SigningSchemeName(env->scheme),
                      ", which needs a trust store of type ", StoreTypeName(chain_type),
                      "; the scope's trust stores: ", vfyimpl::StoreList(trust)))) {
      return std::move(j.result());
    }
  } else {
    absl::StatusOr<ChainResult> c =
        VerifyChain(env->certs_der, trust.stores, chain_type, ChainPurpose::kCodeSigning);
    if (c.ok()) {
      chain = *std::move(c);
    } else if (j.Fail(act.authenticity, Reason::kUntrustedCertificate, 4, "authenticity",
                      StrCat("certificate chain of \"", leaf_subject, "\": ",
                             Sv(c.status().message())))) {
      return std::move(j.result());
    }
  }
  // 5. Authenticity: a trusted identity.
  bool identity_ok = false;
  for (const TrustedIdentity& id : trust.identities) {
    if (IdentityMatches(id, leaf)) {
      identity_ok = true;
      break;
    }
  }
  if (!identity_ok &&
      j.Fail(act.authenticity, Reason::kUntrustedIdentity, 5, "authenticity",
             StrCat("signing certificate \"", leaf_subject,
                    "\" matches none of the scope's trusted identities: ",
                    vfyimpl::IdentityList(trust.identities)))) {
    return std::move(j.result());
  }

  // 6. Expiry.
  if (env->expiry.has_value() && now >= *env->expiry &&
      j.Fail(act.expiry, Reason::kSignatureExpired, 6, "expiry",
             StrCat("signature expired ", FormatTimeUtc(*env->expiry), " (verification time ",
                    FormatTimeUtc(now), ")"))) {
    return std::move(j.result());
  }

  // 7. Authentic timestamp, against the signing chain's validity.
  std::optional<internal::TimestampVerification> ts;
  absl::StatusOr<vfyimpl::ChainValidity> validity =
      vfyimpl::ChainValidity::Make(chain, env->certs_der);
  const Action ts_action = act.authentic_timestamp;
  if (!validity.ok()) {
    if (j.Fail(ts_action, Reason::kUntrustedCertificate, 7, "authenticTimestamp",
               StrCat("cannot read the signing chain's validity: ",
                      Sv(validity.status().message())))) {
      return std::move(j.result());
    }
  } else if (env->scheme == SigningScheme::kX509) {
    std::vector<std::string> tsa_stores = vfyimpl::StoreNames(trust, StoreType::kTsa);
    bool expired_now = validity->ExpiredAt(now);
    bool verify_ts = !tsa_stores.empty() && (trust.verify_timestamp == VerifyTimestamp::kAlways ||
                                             expired_now);
    if (verify_ts && env->timestamp_token.empty()) {
      if (j.Fail(ts_action, Reason::kBadTimestamp, 7, "authenticTimestamp",
                 StrCat(sig_name, " has no timestamp countersignature, which the scope's tsa "
                        "trust store(s) ", vfyimpl::JoinNames(tsa_stores), " require",
                        trust.verify_timestamp == VerifyTimestamp::kAlways
                            ? " (verifyTimestamp always)"
                            : " (verifyTimestamp afterCertExpiry, and the chain has expired)"))) {
        return std::move(j.result());
      }
    } else if (verify_ts) {
      absl::StatusOr<internal::TimestampVerification> v = internal::VerifyTimestampTokenChain(
          env->timestamp_token, env->signature, trust.stores);
      std::string problem;
      if (!v.ok()) {
        problem = StrCat("timestamp countersignature: ", Sv(v.status().message()));
      } else {
        std::string outside = validity->Outside(
            v->verified.lower, v->verified.upper,
            StrCat("timestamp (genTime ", FormatTimeUtc(v->info.gen_time), ", accuracy ",
                   vfyimpl::DurationText(v->info.accuracy), ", TSA \"", v->verified.tsa_subject,
                   "\") limit"));
        if (outside.empty()) {
          ts = *std::move(v);
        } else {
          problem = outside;
        }
      }
      if (!problem.empty() &&
          j.Fail(ts_action, Reason::kBadTimestamp, 7, "authenticTimestamp", problem)) {
        return std::move(j.result());
      }
    } else {
      std::string outside = validity->Outside(now, now, "verification time");
      if (!outside.empty() &&
          j.Fail(ts_action, Reason::kUntrustedCertificate, 7, "authenticTimestamp",
                 StrCat(outside,
                        tsa_stores.empty()
                            ? " (no tsa trust store: without a timestamp the chain must be "
                              "valid now)"
                            : ""))) {
        return std::move(j.result());
      }
    }
  } else {  // notary.x509.signingAuthority
    std::string problem;
    if (!env->authentic_signing_time.has_value()) {
      problem = StrCat(sig_name, " has no authentic signing time");
    } else {
      problem = validity->Outside(*env->authentic_signing_time, *env->authentic_signing_time,
                                  "authentic signing time");
    }
    if (!problem.empty() &&
        j.Fail(ts_action, Reason::kBadTimestamp, 7, "authenticTimestamp", problem)) {
      return std::move(j.result());
    }
  }

  // 8. Revocation, from the anchoring stores' CRLs.
  if (act.revocation != Action::kSkip) {
    std::vector<vfyimpl::RevocationFinding> findings;
    if (!chain.has_value()) {
      findings.push_back({RevocationStatus::kUnknown,
                          "signing chain: not verified to a trust store, so no CRL applies"});
    } else {
      const TrustStore* store = vfyimpl::FindStore(trust, chain->store, chain_type);
      RevocationResult rr;
      if (store != nullptr) {
        rr = CheckRevocation(*chain, *store, now);
      } else {
        rr.detail = StrCat("trust store ", chain->store, " not found");
      }
      if (rr.status != RevocationStatus::kGood) {
        findings.push_back({rr.status, StrCat("signing chain: ", rr.detail)});
      }
    }
    if (ts.has_value()) {
      const TrustStore* store =
          vfyimpl::FindStore(trust, ts->tsa_chain.store, StoreType::kTsa);
      RevocationResult rr;
      if (store != nullptr) {
        rr = CheckRevocation(ts->tsa_chain, *store, now);
      } else {
        rr.detail = StrCat("trust store ", ts->tsa_chain.store, " not found");
      }
      if (rr.status != RevocationStatus::kGood) {
        findings.push_back({rr.status, StrCat("TSA chain: ", rr.detail)});
      }
    }
    // Enforced: a revocation decides before an unknown status.
    for (RevocationStatus want : {RevocationStatus::kRevoked, RevocationStatus::kUnknown}) {
      for (vfyimpl::RevocationFinding& f : findings) {
        if (f.status != want) continue;
        Reason reason = want == RevocationStatus::kRevoked ? Reason::kRevoked
                                                           : Reason::kRevocationUnchecked;
        if (j.Fail(act.revocation, reason, 8, "revocation", std::move(f.message))) {
          return std::move(j.result());
        }
      }
    }
  }

  Result& r = j.result();
  r.reason = Reason::kVerified;
  r.step = 8;
  Signer s;
  s.subject = leaf_subject;
  // The verified chain's second certificate issued the leaf (a one-certificate chain is a
  // self-signed leaf from the store); otherwise look among the envelope's certificates.
  s.issuer = chain.has_value() && chain->chain_der.size() > 1
                 ? SubjectText(chain->chain_der[1])
                 : vfyimpl::IssuerText(leaf, env->certs_der);
  s.thumbprint = Thumbprint(leaf);
  s.store = chain.has_value() ? chain->store : "";
  s.scheme = env->scheme;
  s.format = env->format;
  if (ts.has_value()) s.timestamp = ts->info.gen_time;
  r.detail = StrCat(sig_name, " (", SigningSchemeName(env->scheme), ", ",
                    AlgorithmName(env->algorithm), ") by \"", s.subject, "\"",
                    chain.has_value() ? StrCat(" verified against trust store ", chain->store)
                                      : std::string(" verified (authenticity logged)"));
  if (ts.has_value()) {
    r.detail += StrCat("; timestamp ", FormatTimeUtc(ts->info.gen_time), " by \"",
                       ts->verified.tsa_subject, "\" (tsa store ", ts->verified.store, ")");
  }
  r.signer = std::move(s);
  return std::move(r);
}

}  // namespace layerseal::notation
