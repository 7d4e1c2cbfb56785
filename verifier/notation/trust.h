// What a policy scope trusts for Notary Project signatures (issue 20, docs/notation.md): the
// trust stores (PEM/DER certificate directories of type ca, signingAuthority and tsa, each
// with an optional CRL file), the trusted identities (x509.subject DNs or "*"), and the
// verification level with its overrides, with the Notary Project's semantics
// (specs/trust-store-trust-policy.md). Built by the policy loader (verifier/policy.cc) from
// the policy's top-level `trustStores` and a scope's `notation` member; judged by verify.h.
//
// Thread-safety: the types are immutable after construction (shared as shared_ptr<const>);
// the functions are pure but LoadTrustStore, which reads files.
#ifndef LAYERSEAL_VERIFIER_NOTATION_TRUST_H_
#define LAYERSEAL_VERIFIER_NOTATION_TRUST_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

typedef struct x509_store_st X509_STORE;  // OpenSSL's, as <openssl/types.h> declares it

namespace layerseal::notation {

inline constexpr size_t kMaxTrustStores = 64;              // per policy
inline constexpr size_t kMaxTrustStoreCertificates = 256;  // per store
inline constexpr size_t kMaxTrustStoreFileBytes = 256 * 1024;  // one certificate file
inline constexpr size_t kMaxCrlFileBytes = 8 << 20;        // one CRL file (PEM or DER, may hold several CRLs)
inline constexpr size_t kMaxTrustedIdentities = 256;       // per scope
inline constexpr size_t kMaxIdentityLength = 1024;         // one trustedIdentities entry

enum class StoreType { kCa, kSigningAuthority, kTsa };
std::string_view StoreTypeName(StoreType t);  // "ca" / "signingAuthority" / "tsa"
// "ca" / "signingAuthority" / "tsa", exactly; anything else InvalidArgument naming the text.
absl::StatusOr<StoreType> ParseStoreType(std::string_view name);

struct TrustStore {
  std::string name;  // the policy's name for it
  StoreType type = StoreType::kCa;
  std::string dir;   // where it was read from (for messages)
  std::vector<std::string> certs_der;       // in file-name order, then order within a file
  std::vector<std::string> thumbprints;     // lowercase hex SHA-256 of each of certs_der
  std::vector<std::string> crls_der;        // the CRL file's CRLs (empty: no CRL configured)
  std::string crl_path;                     // empty: none
  // certs_der parsed once by LoadTrustStore, as an OpenSSL store of trust anchors that
  // VerifyChain shares between calls and threads (X509_STORE lookups are thread-safe; it is
  // never modified after LoadTrustStore). Null in a TrustStore built by hand: VerifyChain
  // then parses certs_der on each call (a 256-certificate store costs tens of milliseconds).
  std::shared_ptr<X509_STORE> anchors;
};

// Reads the named store at directory `dir` (the Notary Project layout's leaf directory,
// e.g. <truststore>/x509/ca/acme): every regular file directly in it whose name ends in
// .pem, .crt or .cer (case-insensitive), each holding one or more certificates in PEM or
// one in DER; subdirectories and other files are ignored. Refused, naming the path:
// a symlink (the directory itself or a certificate file: the spec forbids them), a file over
// kMaxTrustStoreFileBytes, one that holds no certificate or does not parse, more than
// kMaxTrustStoreCertificates, an empty store, and a certificate that is not a CA
// (basicConstraints cA TRUE) unless it is self-signed (notation accepts self-signed leaf
// certificates in a store, for test setups), and in a tsa store a certificate that is not a
// root (self-signed and subject equal to issuer: notation-go's truststore requires roots
// there). Unlike notation-go, which fails on a subdirectory and reads every file, other
// files and subdirectories are ignored (never trusted). DER files may hold several
// certificates one after the other; PEM files only CERTIFICATE blocks. `crl_path` (empty: none): a file of one or more
// CRLs, PEM or DER, within kMaxCrlFileBytes, each parsed at load. NotFound when `dir` is
// missing.
absl::StatusOr<TrustStore> LoadTrustStore(std::string name, StoreType type,
                                          const std::string& dir, const std::string& crl_path);

// One trustedIdentities entry: "*" (any identity the stores vouch for), or
// "x509.subject: <DN>" where the DN is comma-separated RDNs `TYPE=value` (RFC 4514 escapes
// \, \; \\ and a leading/trailing escaped space; multi-valued RDNs with '+' are refused), and
// must contain C, ST (or S) and O. Types known: C, ST, S (as ST), L, O, OU, CN,
// emailAddress/E, serialNumber, plus dotted OIDs. Each type at most once.
// Details (as notation-go's pkix.ParseDistinguishedName, go-ldap's RFC 4514 parser): every
// RFC 4514 escape (\ followed by one of ,+"\<>;=# space, or two hex digits giving a byte of
// UTF-8); unescaped spaces around types and values are trimmed; ',' or ';' separates RDNs;
// "=#" (BER hex values) is refused; values must be non-empty UTF-8. Unlike notation, type
// names are case-insensitive (c=US is C=US) and any name OpenSSL knows (street, DC, UID...) is
// accepted; dotted OIDs of a known type become that type (2.5.4.10 is O).
struct TrustedIdentity {
  bool any = false;
  std::vector<std::pair<std::string, std::string>> attributes;  // (type, value); ST for S
  std::string text;  // as written, for messages
};
// InvalidArgument naming the entry and what is wrong (missing C/ST/O, bad escape, unknown
// prefix, over kMaxIdentityLength).
absl::StatusOr<TrustedIdentity> ParseTrustedIdentity(std::string_view text);
// A scope's whole list: each entry parsed, and the list's own rules: "*" only alone; no two
// overlapping entries (one's attributes a subset of the other's: some certificate would match
// both, which the spec calls invalid); at most kMaxTrustedIdentities; not empty.
absl::StatusOr<std::vector<TrustedIdentity>> ParseTrustedIdentities(
    const std::vector<std::string>& texts);
// Whether the leaf certificate `leaf_der`'s subject has every attribute of `id` with an
// equal value (values compared as UTF-8 strings, exactly); `any` matches every certificate.
// A certificate that does not parse matches nothing. A subject notation cannot parse (a
// multi-valued RDN, a type twice such as two OUs, a value that is not a string) matches only
// "*". (notation also refuses leaf subjects with attributes Go prints as "=#" hex, such as
// emailAddress; layerseal compares them as text.)
bool IdentityMatches(const TrustedIdentity& id, std::string_view leaf_der);
// The subject of `der` as "C=US, ST=WA, O=acme, CN=x" (RFC 4514 order reversed to the
// certificate's own order, as notation prints it); "" when it does not parse.
std::string SubjectText(std::string_view der);

// Verification levels and per-check actions (specs/trust-store-trust-policy.md table).
enum class Level { kStrict, kPermissive, kAudit, kSkip };
std::string_view LevelName(Level l);  // "strict", ...
absl::StatusOr<Level> ParseLevel(std::string_view name);
enum class Action { kEnforce, kLog, kSkip };
std::string_view ActionName(Action a);  // "enforce" / "log" / "skip"

// The action of each check; integrity is always enforced (skip level aside).
struct Actions {
  Action authenticity = Action::kEnforce;
  Action authentic_timestamp = Action::kEnforce;
  Action expiry = Action::kEnforce;
  Action revocation = Action::kEnforce;
};
// The level's table row: strict all enforce; permissive authenticity enforce, the rest log;
// audit everything log; skip: all kSkip.
Actions ActionsFor(Level level);
// `level` with `overrides` (check name -> action name, as trustpolicy.oci.json writes them):
// keys authenticity, authenticTimestamp, expiry (values enforce|log) and revocation
// (enforce|log|skip); `integrity` or any other key, another value, or any override on
// level skip: InvalidArgument naming the key.
absl::StatusOr<Actions> ApplyOverrides(
    Level level, const std::vector<std::pair<std::string, std::string>>& overrides);

enum class VerifyTimestamp { kAlways, kAfterCertExpiry };

// One scope's notation trust: what verify.h needs.
struct NotationTrust {
  Level level = Level::kStrict;
  Actions actions;
  VerifyTimestamp verify_timestamp = VerifyTimestamp::kAlways;
  // The stores the scope names, of any type (verify.h picks by type).
  std::vector<std::shared_ptr<const TrustStore>> stores;
  std::vector<TrustedIdentity> identities;
  // Lowercase hex SHA-256 thumbprints of every certificate of the ca and signingAuthority
  // stores: discovery's pre-selection (discovery.h) compares the signature manifests'
  // kThumbprintAnnotation with these.
  std::vector<std::string> trusted_thumbprints;
};

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_TRUST_H_
