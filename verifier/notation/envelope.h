// Notary Project (notation) signature envelopes (issue 20, docs/notation.md): JWS flattened
// JSON (application/jose+json, specs/signature-envelope-jws.md) and COSE_Sign1
// (application/cose, specs/signature-envelope-cose.md), parsed into one form so that one
// verifier (verify.h) judges both. Parsing checks the envelope's own rules (required and
// critical headers, content type, payload, sizes) and never verifies a signature or trusts a
// certificate: that is x509.h / verify.h.
//
// Pure functions, no I/O; thread-safe. Errors: InvalidArgument naming what was wrong (the
// header or member, e.g. `protected header "crit": unknown critical header "x-acme"`);
// ResourceExhausted naming the limit for anything over a limit below. Never crashes, on any
// bytes (fuzz targets notation_jws and notation_cose).
#ifndef LAYERSEAL_VERIFIER_NOTATION_ENVELOPE_H_
#define LAYERSEAL_VERIFIER_NOTATION_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/digest.h"

namespace layerseal::notation {

// The artifactType of a notation signature manifest (and, for OCI 1.0 registries, its
// config's mediaType).
inline constexpr std::string_view kSignatureArtifactType = "application/vnd.cncf.notary.signature";
// The signature manifest's layer media types: the envelope formats.
inline constexpr std::string_view kJwsMediaType = "application/jose+json";
inline constexpr std::string_view kCoseMediaType = "application/cose";
// The only payload content type (JWS `cty`, COSE header 3).
inline constexpr std::string_view kPayloadContentType = "application/vnd.cncf.notary.payload.v1+json";
// The manifest annotation listing the SHA-256 thumbprints (hex) of the envelope's chain.
inline constexpr std::string_view kThumbprintAnnotation = "io.cncf.notary.x509chain.thumbprint#S256";

// Header names (JWS protected/unprotected members; COSE text labels).
inline constexpr std::string_view kHeaderSigningScheme = "io.cncf.notary.signingScheme";
inline constexpr std::string_view kHeaderSigningTime = "io.cncf.notary.signingTime";
inline constexpr std::string_view kHeaderAuthenticSigningTime = "io.cncf.notary.authenticSigningTime";
inline constexpr std::string_view kHeaderExpiry = "io.cncf.notary.expiry";
inline constexpr std::string_view kHeaderVerificationPlugin = "io.cncf.notary.verificationPlugin";
inline constexpr std::string_view kHeaderVerificationPluginMinVersion =
    "io.cncf.notary.verificationPluginMinVersion";
inline constexpr std::string_view kHeaderTimestampSignature = "io.cncf.notary.timestampSignature";
inline constexpr std::string_view kHeaderSigningAgent = "io.cncf.notary.signingAgent";

// Limits. An envelope is fetched within kMaxEnvelopeBytes (the signature manifest's layer);
// real ones are 3-8 KiB (three certificates and a timestamp token).
inline constexpr size_t kMaxEnvelopeBytes = 256 * 1024;
inline constexpr size_t kMaxPayloadBytes = 64 * 1024;
inline constexpr size_t kMaxChainCertificates = 10;      // x5c / x5chain entries
inline constexpr size_t kMaxCertificateBytes = 16 * 1024;  // one DER certificate
inline constexpr size_t kMaxTimestampTokenBytes = 64 * 1024;
inline constexpr size_t kMaxHeaderMembers = 64;          // protected + unprotected headers each
inline constexpr size_t kMaxCriticalHeaders = 16;
inline constexpr size_t kMaxSignatureBytes = 1024;       // RSA-4096: 512; P-521 r||s: 132
inline constexpr size_t kMaxCborDepth = 8;               // nesting inside a COSE envelope

enum class Format { kJws, kCose };
std::string_view FormatName(Format f);  // "jws" / "cose"

enum class SigningScheme { kX509, kX509SigningAuthority };
std::string_view SigningSchemeName(SigningScheme s);  // "notary.x509" / "notary.x509.signingAuthority"

// The signature algorithms the Notary Project allows (specs/signature-specification.md
// "Signature Algorithm Requirements"): RSASSA-PSS with SHA-256/384/512 and ECDSA
// P-256/384/521 with SHA-256/384/512. JWS names PS256...ES512; COSE -37/-38/-39 (PS256/384/
// 512) and -7/-35/-36 (ES256/384/512).
enum class Algorithm { kPs256, kPs384, kPs512, kEs256, kEs384, kEs512 };
std::string_view AlgorithmName(Algorithm a);  // "PS256", ... (the JWS name, for both formats)

// The signed payload's targetArtifact (specs/signature-specification.md "Payload").
struct TargetArtifact {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::string artifact_type;  // optional member; empty when absent
  std::map<std::string, std::string> annotations;
};

struct Envelope {
  Format format = Format::kJws;
  // The exact bytes the signature covers: JWS: ASCII(BASE64URL(protected) '.' BASE64URL(
  // payload)) as they appear in the envelope; COSE: the RFC 9052 Sig_structure
  // ["Signature1", protected (the bstr as received), h'' (external_aad), payload].
  std::string signed_bytes;
  // The signature value: RSA-PSS bytes, or ECDSA's fixed-size r||s (both formats).
  std::string signature;
  Algorithm algorithm = Algorithm::kPs256;  // as the protected header declares it
  std::string payload;                      // the raw payload bytes (JSON)
  TargetArtifact target;                    // the payload, parsed (ParsePayload)
  SigningScheme scheme = SigningScheme::kX509;
  // Signed attributes. signing_time is required under notary.x509 (and untrusted);
  // authentic_signing_time is required under notary.x509.signingAuthority (and absent under
  // notary.x509: present there is an error). Both absent under the other scheme.
  std::optional<absl::Time> signing_time;
  std::optional<absl::Time> authentic_signing_time;
  std::optional<absl::Time> expiry;
  // io.cncf.notary.verificationPlugin / MinVersion when present (layerseal runs no plugin:
  // verify.h denies a signature that names one, since the header is critical).
  std::string verification_plugin;
  std::string verification_plugin_min_version;
  // Unsigned attributes.
  std::vector<std::string> certs_der;  // x5c / x5chain, leaf first; 1..kMaxChainCertificates
  std::string timestamp_token;         // DER TimeStampToken (CMS ContentInfo); empty: none
  std::string signing_agent;
  // Every non-registered protected header name and value as text (for the verdict detail and
  // for extended attributes), and the names the `crit` list holds.
  std::map<std::string, std::string> protected_headers;
  std::vector<std::string> critical;
};

// The envelope `bytes` of layer media type `media_type` (kJwsMediaType or kCoseMediaType;
// anything else is InvalidArgument naming it). Bytes over kMaxEnvelopeBytes:
// ResourceExhausted. Rules checked (each failure names the header):
//   - JWS: flattened JSON serialization only (no `signatures` array, no compact form), strict
//     JSON (no duplicate members), base64url without padding for protected/payload/signature,
//     standard base64 for x5c and the timestamp; the protected header is a JSON object.
//   - COSE: a COSE_Sign1 (tag 18, or untagged), protected header a bstr holding a map,
//     attached payload (a detached payload is an error), x5chain (label 33) one bstr or an
//     array of bstrs; times are tag-1 epoch integers; definite lengths only; at most
//     kMaxCborDepth nesting; no trailing bytes.
//   - `alg` one of Algorithm; `cty` exactly kPayloadContentType.
//   - `crit` present, a non-empty list of distinct strings that must include the signing
//     scheme, the expiry and authentic signing time when present, and the plugin headers when
//     present; every name it lists must be present in the protected header, and any name
//     this implementation does not know (anything but kHeaderSigningScheme,
//     kHeaderAuthenticSigningTime, kHeaderExpiry, kHeaderVerificationPlugin,
//     kHeaderVerificationPluginMinVersion) is an error "unknown critical header <name>".
//   - signing scheme one of SigningScheme, with its time attribute (see Envelope).
//   - times RFC 3339 (JWS) with a zone; expiry after... is NOT judged here (verify.h).
//   - payload: ParsePayload.
absl::StatusOr<Envelope> ParseEnvelope(std::string_view bytes, std::string_view media_type);
absl::StatusOr<Envelope> ParseJws(std::string_view bytes);
absl::StatusOr<Envelope> ParseCose(std::string_view bytes);

// The payload JSON: {"targetArtifact": {"mediaType", "digest", "size", ["artifactType"],
// ["annotations"]}}; other top-level members are an error; within targetArtifact, unknown
// members (e.g. "urls") are ignored as the spec's descriptor allows. Digest canonical
// (verifier/digest.h), size >= 0.
absl::StatusOr<TargetArtifact> ParsePayload(std::string_view payload);

}  // namespace layerseal::notation

#endif  // LAYERSEAL_VERIFIER_NOTATION_ENVELOPE_H_
