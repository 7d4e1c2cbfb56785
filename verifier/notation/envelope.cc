// verifier/notation/envelope.h: implementation (issue 20).
//
// Both formats are read into one neutral form of the protected header (SignedFields), whose
// rules (alg, cty, crit, signing scheme and its times) are checked once, in CheckSigned.
//
// COSE: libcbor builds the item tree, but only after ScanCbor has walked the bytes itself
// (depth-bounded recursion, at most kMaxCborDepth deep): libcbor allocates a definite
// array's slots from its declared length and frees trees recursively, so it only ever sees
// well-formed, definite-length, shallow input of at most kMaxCborItems items.
#include "verifier/notation/envelope.h"

#include <cbor.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <set>
#include <tuple>
#include <utility>

#include "base/str_cat.h"
#include "base/utf8.h"
#include "verifier/crypto.h"
#include "verifier/strict_json.h"

namespace layerseal::notation {

// Named (not anonymous) so that no helper collides with another file's in the unity build.
namespace envelope_impl {
namespace {

using nlohmann::json;

// Data items in one COSE structure (the envelope, or the protected header's bytes). A real
// envelope has about 30; the bound keeps libcbor's allocations proportional to nothing.
constexpr size_t kMaxCborItems = 1024;

constexpr std::string_view kJwsAlgNames[] = {"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"};
constexpr Algorithm kAlgs[] = {Algorithm::kPs256, Algorithm::kPs384, Algorithm::kPs512,
                               Algorithm::kEs256, Algorithm::kEs384, Algorithm::kEs512};
constexpr int64_t kCoseAlgs[] = {-37, -38, -39, -7, -35, -36};

// The critical headers this implementation knows (envelope.h: anything else is an error).
constexpr std::string_view kKnownCritical[] = {
    kHeaderSigningScheme, kHeaderAuthenticSigningTime, kHeaderExpiry, kHeaderVerificationPlugin,
    kHeaderVerificationPluginMinVersion};

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": ", what));
}

std::string Quote(std::string_view s) { return StrCat("\"", ValidUtf8(s, true), "\""); }

std::string ProtectedWhere(std::string_view name) { return StrCat("protected header ", Quote(name)); }
std::string UnprotectedWhere(std::string_view name) {
  return StrCat("unprotected header ", Quote(name));
}

// ---------------------------------------------------------------------------------------
// The protected header in neutral form, filled by each format's reader.
struct SignedFields {
  std::optional<Algorithm> alg;
  std::optional<std::string> cty;
  bool has_crit = false;
  std::vector<std::string> crit;   // names; a COSE integer label as its decimal text
  std::vector<bool> crit_is_label;  // parallel to crit: true for a COSE integer label
  std::set<std::string> present;    // every text-named protected header
  std::optional<std::string> scheme;
  std::optional<absl::Time> signing_time;
  std::optional<absl::Time> authentic_signing_time;
  std::optional<absl::Time> expiry;
  std::optional<std::string> plugin;
  std::optional<std::string> plugin_min_version;
  std::map<std::string, std::string> extended;
};

bool KnownCritical(std::string_view name) {
  for (std::string_view k : kKnownCritical) {
    if (k == name) return true;
  }
  return false;
}

// The rules of envelope.h on the protected header, common to JWS and COSE; fills `env`.
absl::Status CheckSigned(SignedFields& f, Envelope& env) {
  if (!f.alg) return Bad(ProtectedWhere("alg"), "missing");
  env.algorithm = *f.alg;
  if (!f.cty) return Bad(ProtectedWhere("cty"), "missing");
  if (*f.cty != kPayloadContentType) {
    return Bad(ProtectedWhere("cty"),
               StrCat("content type ", Quote(*f.cty), " is not ", kPayloadContentType));
  }
  if (!f.scheme) return Bad(ProtectedWhere(kHeaderSigningScheme), "missing");
  if (*f.scheme == SigningSchemeName(SigningScheme::kX509)) {
    env.scheme = SigningScheme::kX509;
    if (!f.signing_time) {
      return Bad(ProtectedWhere(kHeaderSigningTime), "missing (required under notary.x509)");
    }
    if (f.authentic_signing_time) {
      return Bad(ProtectedWhere(kHeaderAuthenticSigningTime), "not allowed under notary.x509");
    }
  } else if (*f.scheme == SigningSchemeName(SigningScheme::kX509SigningAuthority)) {
    env.scheme = SigningScheme::kX509SigningAuthority;
    if (!f.authentic_signing_time) {
      return Bad(ProtectedWhere(kHeaderAuthenticSigningTime),
                 "missing (required under notary.x509.signingAuthority)");
    }
    if (f.signing_time) {
      return Bad(ProtectedWhere(kHeaderSigningTime),
                 "not allowed under notary.x509.signingAuthority");
    }
  } else {
    return Bad(ProtectedWhere(kHeaderSigningScheme),
               StrCat("unknown signing scheme ", Quote(*f.scheme)));
  }

  if (!f.has_crit) return Bad(ProtectedWhere("crit"), "missing");
  if (f.crit.empty()) return Bad(ProtectedWhere("crit"), "empty");
  if (f.crit.size() > kMaxCriticalHeaders) {
    return absl::ResourceExhaustedError(StrCat(ProtectedWhere("crit"), ": ", f.crit.size(),
                                               " names, over kMaxCriticalHeaders (",
                                               kMaxCriticalHeaders, ")"));
  }
  std::set<std::string> listed;
  for (size_t i = 0; i < f.crit.size(); ++i) {
    const std::string& name = f.crit[i];
    if (f.crit_is_label[i] || !KnownCritical(name)) {
      return Bad(ProtectedWhere("crit"),
                 StrCat("unknown critical header ", f.crit_is_label[i] ? name : Quote(name)));
    }
    if (!listed.insert(name).second) {
      return Bad(ProtectedWhere("crit"), StrCat("lists ", Quote(name), " twice"));
    }
    if (f.present.count(name) == 0) {
      return Bad(ProtectedWhere("crit"),
                 StrCat("critical header ", Quote(name), " is not in the protected header"));
    }
  }
  // Headers that must be critical when present.
  for (std::string_view must : kKnownCritical) {
    if (f.present.count(std::string(must)) != 0 && listed.count(std::string(must)) == 0) {
      return Bad(ProtectedWhere("crit"), StrCat("does not list ", Quote(must), ", which is present"));
    }
  }
  env.critical = f.crit;
  env.signing_time = f.signing_time;
  env.authentic_signing_time = f.authentic_signing_time;
  env.expiry = f.expiry;
  env.verification_plugin = f.plugin.value_or("");
  env.verification_plugin_min_version = f.plugin_min_version.value_or("");
  env.protected_headers = std::move(f.extended);
  return absl::OkStatus();
}

absl::Status CheckBound(std::string_view where, size_t size, size_t limit, std::string_view limit_name) {
  if (size <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      StrCat(where, ": ", size, " bytes, over ", limit_name, " (", limit, ")"));
}

absl::Status CheckCertificate(std::string_view where, std::string_view der) {
  if (der.empty()) return Bad(where, "empty certificate");
  return CheckBound(where, der.size(), kMaxCertificateBytes, "kMaxCertificateBytes");
}

absl::Status CheckChainSize(std::string_view where, size_t n) {
  if (n == 0) return Bad(where, "no certificate");
  if (n > kMaxChainCertificates) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", n, " certificates, over kMaxChainCertificates (",
                                               kMaxChainCertificates, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckSignatureValue(std::string_view where, std::string_view sig) {
  if (sig.empty()) return Bad(where, "empty");
  return CheckBound(where, sig.size(), kMaxSignatureBytes, "kMaxSignatureBytes");
}

absl::Status CheckTimestampToken(std::string_view where, std::string_view token) {
  if (token.empty()) return Bad(where, "empty");
  return CheckBound(where, token.size(), kMaxTimestampTokenBytes, "kMaxTimestampTokenBytes");
}

absl::Status SetPayload(std::string payload, Envelope& env) {
  absl::StatusOr<TargetArtifact> target = ParsePayload(payload);
  if (!target.ok()) return target.status();
  env.payload = std::move(payload);
  env.target = *std::move(target);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// JWS

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 3339 date-time (section 5.6), zone required: the shape first (absl alone would accept
// more, e.g. surrounding spaces), then the calendar through absl.
absl::StatusOr<absl::Time> ParseRfc3339(std::string_view where, std::string_view s) {
  auto digits = [&](size_t pos, size_t n) {
    if (pos + n > s.size()) return false;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!IsDigit(s[i])) return false;
    }
    return true;
  };
  bool ok = s.size() >= 20 && digits(0, 4) && s[4] == '-' && digits(5, 2) && s[7] == '-' &&
            digits(8, 2) && (s[10] == 'T' || s[10] == 't') && digits(11, 2) && s[13] == ':' &&
            digits(14, 2) && s[16] == ':' && digits(17, 2);
  size_t pos = 19;
  if (ok && pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    ok = pos > start;
  }
  if (ok) {
    std::string_view zone = s.substr(std::min(pos, s.size()));
    ok = zone == "Z" || zone == "z" ||
         (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && IsDigit(zone[1]) &&
          IsDigit(zone[2]) && zone[3] == ':' && IsDigit(zone[4]) && IsDigit(zone[5]));
  }
  absl::Time t;
  std::string err;
  if (!ok || !absl::ParseTime(absl::RFC3339_full, std::string(s), &t, &err)) {
    return Bad(where, StrCat(Quote(s), " is not an RFC 3339 date-time with a zone"));
  }
  return t;
}

// Base64url without padding (RFC 7515 section 2), through the strict standard decoder.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view where, std::string_view text) {
  std::string std_form;
  std_form.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '=') return Bad(where, "base64url with padding ('=')");
    if (c == '+' || c == '/') return Bad(where, "standard base64 ('+' or '/'), not base64url");
    std_form.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  if (std_form.size() % 4 == 1) return Bad(where, "base64url of impossible length");
  while (std_form.size() % 4 != 0) std_form.push_back('=');
  absl::StatusOr<std::string> out = Base64Decode(std_form);
  if (!out.ok()) return Bad(where, StrCat("bad base64url: ", Sv(out.status().message())));
  return out;
}

absl::StatusOr<std::string> Base64Std(std::string_view where, const json& v) {
  if (!v.is_string()) return Bad(where, "not a string");
  absl::StatusOr<std::string> out = Base64Decode(v.get_ref<const std::string&>());
  if (!out.ok()) return Bad(where, Sv(out.status().message()));
  return out;
}

absl::StatusOr<std::string> JsonText(std::string_view where, const json& v) {
  if (!v.is_string()) return Bad(where, "not a string");
  return v.get<std::string>();
}

absl::StatusOr<absl::Time> JsonTime(std::string_view name, const json& v) {
  absl::StatusOr<std::string> s = JsonText(ProtectedWhere(name), v);
  if (!s.ok()) return s.status();
  return ParseRfc3339(ProtectedWhere(name), *s);
}

absl::Status ReadJwsProtected(const json& hdr, SignedFields& f) {
  if (!hdr.is_object()) return Bad("protected header", "not a JSON object");
  if (hdr.size() > kMaxHeaderMembers) {
    return absl::ResourceExhaustedError(StrCat("protected header: ", hdr.size(),
                                               " members, over kMaxHeaderMembers (",
                                               kMaxHeaderMembers, ")"));
  }
  for (auto it = hdr.begin(); it != hdr.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    f.present.insert(name);
    if (name == "alg") {
      absl::StatusOr<std::string> s = JsonText(ProtectedWhere(name), v);
      if (!s.ok()) return s.status();
      for (size_t i = 0; i < std::size(kJwsAlgNames); ++i) {
        if (*s == kJwsAlgNames[i]) f.alg = kAlgs[i];
      }
      if (!f.alg) return Bad(ProtectedWhere(name), StrCat("unsupported algorithm ", Quote(*s)));
    } else if (name == "cty") {
      absl::StatusOr<std::string> s = JsonText(ProtectedWhere(name), v);
      if (!s.ok()) return s.status();
      f.cty = *s;
    } else if (name == "crit") {
      if (!v.is_array()) return Bad(ProtectedWhere(name), "not an array");
      f.has_crit = true;
      if (v.size() > kMaxCriticalHeaders) {
        return absl::ResourceExhaustedError(StrCat(ProtectedWhere(name), ": ", v.size(),
                                                   " names, over kMaxCriticalHeaders (",
                                                   kMaxCriticalHeaders, ")"));
      }
      for (const json& e : v) {
        if (!e.is_string()) return Bad(ProtectedWhere(name), "lists something that is not a string");
        f.crit.push_back(e.get<std::string>());
        f.crit_is_label.push_back(false);
      }
    } else if (name == kHeaderSigningScheme || name == kHeaderVerificationPlugin ||
               name == kHeaderVerificationPluginMinVersion) {
      absl::StatusOr<std::string> s = JsonText(ProtectedWhere(name), v);
      if (!s.ok()) return s.status();
      (name == kHeaderSigningScheme ? f.scheme
       : name == kHeaderVerificationPlugin ? f.plugin
                                           : f.plugin_min_version) = *s;
    } else if (name == kHeaderSigningTime || name == kHeaderAuthenticSigningTime ||
               name == kHeaderExpiry) {
      absl::StatusOr<absl::Time> t = JsonTime(name, v);
      if (!t.ok()) return t.status();
      (name == kHeaderSigningTime ? f.signing_time
       : name == kHeaderExpiry    ? f.expiry
                                  : f.authentic_signing_time) = *t;
    } else if (name == "b64") {
      // RFC 7797 would change what the signature covers.
      return Bad(ProtectedWhere(name), "unencoded payloads (RFC 7797) are not supported");
    } else {
      f.extended[name] = v.is_string() ? v.get<std::string>()
                                       : v.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadJwsUnprotected(const json& hdr, const std::set<std::string>& protected_names,
                                Envelope& env) {
  if (!hdr.is_object()) return Bad("JWS member \"header\"", "not a JSON object");
  if (hdr.size() > kMaxHeaderMembers) {
    return absl::ResourceExhaustedError(StrCat("unprotected header: ", hdr.size(),
                                               " members, over kMaxHeaderMembers (",
                                               kMaxHeaderMembers, ")"));
  }
  bool have_x5c = false;
  for (auto it = hdr.begin(); it != hdr.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    std::string where = UnprotectedWhere(name);
    if (protected_names.count(name) != 0 || name == "crit") {
      return Bad(where, "must only be in the protected header");
    }
    if (name == "x5c") {
      if (!v.is_array()) return Bad(where, "not an array");
      if (absl::Status s = CheckChainSize(where, v.size()); !s.ok()) return s;
      for (size_t i = 0; i < v.size(); ++i) {
        std::string cert_where = StrCat(where, " entry ", i);
        absl::StatusOr<std::string> der = Base64Std(cert_where, v[i]);
        if (!der.ok()) return der.status();
        if (absl::Status s = CheckCertificate(cert_where, *der); !s.ok()) return s;
        env.certs_der.push_back(*std::move(der));
      }
      have_x5c = true;
    } else if (name == kHeaderTimestampSignature) {
      absl::StatusOr<std::string> token = Base64Std(where, v);
      if (!token.ok()) return token.status();
      if (absl::Status s = CheckTimestampToken(where, *token); !s.ok()) return s;
      env.timestamp_token = *std::move(token);
    } else if (name == kHeaderSigningAgent) {
      absl::StatusOr<std::string> agent = JsonText(where, v);
      if (!agent.ok()) return agent.status();
      env.signing_agent = *std::move(agent);
    }
    // Other unprotected members are unsigned and not critical: ignored.
  }
  if (!have_x5c) return Bad(UnprotectedWhere("x5c"), "missing");
  return absl::OkStatus();
}

absl::StatusOr<Envelope> Jws(std::string_view bytes) {
  if (bytes.size() > kMaxEnvelopeBytes) {
    return absl::ResourceExhaustedError(StrCat("JWS envelope: ", bytes.size(),
                                               " bytes, over kMaxEnvelopeBytes (",
                                               kMaxEnvelopeBytes, ")"));
  }
  size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || bytes[first] != '{') {
    if (bytes.find('.') != std::string_view::npos) {
      return Bad("JWS envelope", "compact serialization is not supported (flattened JSON only)");
    }
    return Bad("JWS envelope", "not a JSON object");
  }
  absl::StatusOr<json> doc = ParseStrictJson(bytes, kMaxEnvelopeBytes);
  if (!doc.ok()) return Bad("JWS envelope", Sv(doc.status().message()));
  if (!doc->is_object()) return Bad("JWS envelope", "not a JSON object");
  if (doc->contains("signatures")) {
    return Bad("JWS envelope",
               "general JSON serialization (\"signatures\") is not supported (flattened only)");
  }
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "payload" && it.key() != "protected" && it.key() != "header" &&
        it.key() != "signature") {
      return Bad("JWS envelope", StrCat("unknown member ", Quote(it.key())));
    }
  }
  for (std::string_view m : {"protected", "payload", "signature", "header"}) {
    if (!doc->contains(std::string(m))) return Bad(StrCat("JWS member ", Quote(m)), "missing");
  }
  for (std::string_view m : {"protected", "payload", "signature"}) {
    if (!(*doc)[std::string(m)].is_string()) return Bad(StrCat("JWS member ", Quote(m)), "not a string");
  }
  const std::string& protected_b64 = (*doc)["protected"].get_ref<const std::string&>();
  const std::string& payload_b64 = (*doc)["payload"].get_ref<const std::string&>();
  const std::string& signature_b64 = (*doc)["signature"].get_ref<const std::string&>();

  Envelope env;
  env.format = Format::kJws;

  absl::StatusOr<std::string> protected_json = Base64UrlDecode("JWS member \"protected\"", protected_b64);
  if (!protected_json.ok()) return protected_json.status();
  absl::StatusOr<json> hdr = ParseStrictJson(*protected_json, kMaxEnvelopeBytes);
  if (!hdr.ok()) return Bad("protected header", Sv(hdr.status().message()));
  SignedFields fields;
  if (absl::Status s = ReadJwsProtected(*hdr, fields); !s.ok()) return s;
  std::set<std::string> protected_names = fields.present;
  if (absl::Status s = CheckSigned(fields, env); !s.ok()) return s;

  if (absl::Status s = ReadJwsUnprotected((*doc)["header"], protected_names, env); !s.ok()) return s;

  // Base64 is 4/3 of the bytes: refuse an oversize payload before decoding it.
  if (absl::Status s = CheckBound("JWS member \"payload\"", payload_b64.size() / 4 * 3,
                                  kMaxPayloadBytes, "kMaxPayloadBytes");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> payload = Base64UrlDecode("JWS member \"payload\"", payload_b64);
  if (!payload.ok()) return payload.status();
  if (absl::Status s = SetPayload(*std::move(payload), env); !s.ok()) return s;

  absl::StatusOr<std::string> sig = Base64UrlDecode("JWS member \"signature\"", signature_b64);
  if (!sig.ok()) return sig.status();
  if (absl::Status s = CheckSignatureValue("JWS member \"signature\"", *sig); !s.ok()) return s;
  env.signature = *std::move(sig);

  env.signed_bytes = StrCat(protected_b64, ".", payload_b64);
  return env;
}

// ---------------------------------------------------------------------------------------
// COSE

// The head of the CBOR data item at `pos`: major type, argument, length of the head.
struct CborHead {
  int major = 0;
  int info = 0;
  uint64_t arg = 0;
  size_t size = 0;
};

absl::StatusOr<CborHead> ReadCborHead(std::string_view in, size_t pos, std::string_view where) {
  if (pos >= in.size()) return Bad(where, StrCat("CBOR truncated at offset ", pos));
  uint8_t head = static_cast<uint8_t>(in[pos]);
  CborHead h;
  h.major = head >> 5;
  h.info = head & 31;
  if (h.info == 31) {
    return Bad(where, StrCat("CBOR indefinite length or break at offset ", pos,
                             " (definite lengths only)"));
  }
  if (h.info >= 28) return Bad(where, StrCat("CBOR reserved encoding at offset ", pos));
  h.arg = static_cast<uint64_t>(h.info);
  h.size = 1;
  if (h.info >= 24) {
    size_t n = size_t{1} << (h.info - 24);
    if (in.size() - pos - 1 < n) return Bad(where, StrCat("CBOR truncated at offset ", pos));
    h.arg = 0;
    for (size_t i = 0; i < n; ++i) h.arg = (h.arg << 8) | static_cast<uint8_t>(in[pos + 1 + i]);
    h.size += n;
  }
  return h;
}

// Walks one CBOR data item at `pos` (RFC 8949 well-formedness), returns where it ends.
// Rejects indefinite lengths, reserved encodings, more than kMaxCborItems items and nesting
// deeper than kMaxCborDepth; recursion is bounded by that depth. Also rejects what libcbor
// 0.8 refuses to decode, by name: the one-byte tags 6..20 (heads 0xC6..0xD4) and unassigned
// simple values (0xE0..0xF3, 0xF8 xx); and text strings that are not UTF-8.
absl::StatusOr<size_t> ScanCbor(std::string_view in, size_t pos, size_t depth, size_t& items,
                                std::string_view where) {
  if (depth > kMaxCborDepth) {
    return absl::ResourceExhaustedError(StrCat(where, ": CBOR nested deeper than kMaxCborDepth (",
                                               kMaxCborDepth, ")"));
  }
  if (++items > kMaxCborItems) {
    return absl::ResourceExhaustedError(
        StrCat(where, ": more than ", kMaxCborItems, " CBOR data items"));
  }
  absl::StatusOr<CborHead> h = ReadCborHead(in, pos, where);
  if (!h.ok()) return h.status();
  size_t at = pos;
  pos += h->size;
  switch (h->major) {
    case 0:
    case 1:
      return pos;
    case 2:
    case 3:
      if (h->arg > in.size() - pos) {
        return Bad(where, StrCat("CBOR string at offset ", at, " is truncated"));
      }
      if (h->major == 3) {
        std::string_view text = in.substr(pos, static_cast<size_t>(h->arg));
        if (ValidUtf8(text) != text) {
          return Bad(where, StrCat("CBOR text string at offset ", at, " is not valid UTF-8"));
        }
      }
      return pos + static_cast<size_t>(h->arg);
    case 4:
    case 5: {
      // Each item takes at least one byte: a count beyond the input is a lie.
      if (h->arg > in.size() || (h->major == 5 ? 2 * h->arg : h->arg) > in.size() - pos) {
        return Bad(where, StrCat("CBOR container at offset ", at, " is truncated"));
      }
      uint64_t n = h->major == 5 ? 2 * h->arg : h->arg;
      for (uint64_t i = 0; i < n; ++i) {
        absl::StatusOr<size_t> next = ScanCbor(in, pos, depth + 1, items, where);
        if (!next.ok()) return next.status();
        pos = *next;
      }
      return pos;
    }
    case 6:
      if (h->info >= 6 && h->info <= 20) {
        return Bad(where, StrCat("CBOR tag ", h->arg, " at offset ", at, " is not supported here"));
      }
      return ScanCbor(in, pos, depth + 1, items, where);
    default:  // 7: simple values and floats
      if (h->info == 24 && h->arg < 32) {
        return Bad(where, StrCat("CBOR malformed simple value at offset ", at));
      }
      // Unassigned simple values: libcbor 0.8 does not decode them either.
      if (h->info < 20 || h->info == 24) {
        return Bad(where, StrCat("CBOR simple value ", h->arg, " at offset ", at, " is not supported"));
      }
      return pos;
  }
}

struct CborDeleter {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborDeleter>;

// One whole CBOR item, at nesting depth `depth`: scanned, then loaded by libcbor. No
// trailing bytes.
// The item starts at `start` of `in` (offsets in errors count from the start of `in`).
absl::StatusOr<CborPtr> LoadCbor(std::string_view in, std::string_view where, size_t start = 0,
                                 size_t depth = 1) {
  size_t items = 0;
  absl::StatusOr<size_t> end = ScanCbor(in, start, depth, items, where);
  if (!end.ok()) return end.status();
  if (*end != in.size()) {
    return Bad(where, StrCat(in.size() - *end, " trailing bytes after the CBOR item"));
  }
  std::string_view item_bytes = in.substr(start);
  cbor_load_result result{};
  CborPtr item(cbor_load(reinterpret_cast<cbor_data>(item_bytes.data()), item_bytes.size(), &result));
  if (!item || result.error.code != CBOR_ERR_NONE) {
    return Bad(where, StrCat("CBOR not decoded (libcbor error ", static_cast<int>(result.error.code),
                             " at offset ", start + result.error.position, ")"));
  }
  if (result.read != item_bytes.size()) return Bad(where, "trailing bytes after the CBOR item");
  return item;
}

std::string BytesOf(const cbor_item_t* item) {
  size_t n = cbor_bytestring_length(item);
  if (n == 0) return std::string();
  return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(item)), n);
}

std::string TextOf(const cbor_item_t* item) {
  size_t n = cbor_string_length(item);
  if (n == 0) return std::string();
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)), n);
}

absl::StatusOr<std::string> CborBytes(std::string_view where, const cbor_item_t* item) {
  if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) {
    return Bad(where, "not a byte string");
  }
  return BytesOf(item);
}

absl::StatusOr<std::string> CborText(std::string_view where, const cbor_item_t* item) {
  if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) return Bad(where, "not a text string");
  std::string s = TextOf(item);
  if (ValidUtf8(s) != s) return Bad(where, "text string is not valid UTF-8");
  return s;
}

// A CBOR integer (major type 0 or 1) within int64.
absl::StatusOr<int64_t> CborInt(std::string_view where, const cbor_item_t* item) {
  bool neg = cbor_isa_negint(item);
  if (!neg && !cbor_isa_uint(item)) return Bad(where, "not an integer");
  uint64_t v = cbor_get_int(item);
  if (v > static_cast<uint64_t>(INT64_MAX)) return Bad(where, "integer out of range");
  return neg ? -1 - static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// A header label: an integer or a text string (RFC 9052 section 3).
struct Label {
  bool is_int = false;
  int64_t num = 0;
  std::string text;
  bool operator<(const Label& o) const {
    return std::tie(is_int, num, text) < std::tie(o.is_int, o.num, o.text);
  }
  std::string Name() const { return is_int ? StrCat(num) : text; }
};

absl::StatusOr<Label> CborLabel(std::string_view where, const cbor_item_t* key) {
  Label l;
  if (cbor_isa_string(key)) {
    absl::StatusOr<std::string> t = CborText(where, key);
    if (!t.ok()) return t.status();
    l.text = *std::move(t);
    return l;
  }
  absl::StatusOr<int64_t> n = CborInt(where, key);
  if (!n.ok()) return Bad(where, "label that is neither an integer nor a text string");
  l.is_int = true;
  l.num = *n;
  return l;
}

// Epoch-based date/time: tag 1 over an integer (RFC 8949 section 3.4.2).
absl::StatusOr<absl::Time> CborTime(std::string_view where, const cbor_item_t* item) {
  if (!cbor_isa_tag(item) || cbor_tag_value(item) != 1) return Bad(where, "not a tag-1 epoch time");
  CborPtr inner(cbor_tag_item(item));
  absl::StatusOr<int64_t> secs = CborInt(where, inner.get());
  if (!secs.ok()) return Bad(where, "tag-1 time is not an integer number of seconds");
  return absl::FromUnixSeconds(*secs);
}

// A protected header value as text, for Envelope::protected_headers.
std::string CborValueText(const cbor_item_t* item) {
  if (cbor_isa_string(item) && cbor_string_is_definite(item)) {
    return ValidUtf8(TextOf(item));
  }
  if (cbor_isa_uint(item) || cbor_isa_negint(item)) {
    absl::StatusOr<int64_t> n = CborInt("", item);
    return n.ok() ? StrCat(*n) : std::string("(integer)");
  }
  if (cbor_isa_tag(item) && cbor_tag_value(item) == 1) {
    absl::StatusOr<absl::Time> t = CborTime("", item);
    if (t.ok()) return absl::FormatTime(absl::RFC3339_sec, *t, absl::UTCTimeZone());
  }
  if (cbor_is_bool(item)) return cbor_get_bool(item) ? "true" : "false";
  if (cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item)) {
    return StrCat("(", cbor_bytestring_length(item), " bytes)");
  }
  if (cbor_isa_array(item)) return "(array)";
  if (cbor_isa_map(item)) return "(map)";
  return "(value)";
}

// x5chain (label 33): one bstr, or an array of bstrs.
absl::Status ReadX5Chain(std::string_view where, const cbor_item_t* v, Envelope& env) {
  if (cbor_isa_bytestring(v)) {
    absl::StatusOr<std::string> der = CborBytes(where, v);
    if (!der.ok()) return der.status();
    if (absl::Status s = CheckCertificate(where, *der); !s.ok()) return s;
    env.certs_der.push_back(*std::move(der));
    return absl::OkStatus();
  }
  if (!cbor_isa_array(v) || !cbor_array_is_definite(v)) return Bad(where, "neither a byte string nor an array");
  size_t n = cbor_array_size(v);
  if (absl::Status s = CheckChainSize(where, n); !s.ok()) return s;
  cbor_item_t** entries = cbor_array_handle(v);
  for (size_t i = 0; i < n; ++i) {
    std::string cert_where = StrCat(where, " entry ", i);
    absl::StatusOr<std::string> der = CborBytes(cert_where, entries[i]);
    if (!der.ok()) return der.status();
    if (absl::Status s = CheckCertificate(cert_where, *der); !s.ok()) return s;
    env.certs_der.push_back(*std::move(der));
  }
  return absl::OkStatus();
}

absl::Status CheckCborMapSize(std::string_view where, const cbor_item_t* map) {
  if (!cbor_isa_map(map) || !cbor_map_is_definite(map)) return Bad(where, "not a CBOR map");
  if (cbor_map_size(map) > kMaxHeaderMembers) {
    return absl::ResourceExhaustedError(StrCat(where, ": ", cbor_map_size(map),
                                               " members, over kMaxHeaderMembers (",
                                               kMaxHeaderMembers, ")"));
  }
  return absl::OkStatus();
}

absl::Status ReadCoseProtected(const cbor_item_t* map, SignedFields& f, std::set<Label>& labels,
                               Envelope& env) {
  if (absl::Status s = CheckCborMapSize("protected header", map); !s.ok()) return s;
  struct cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    absl::StatusOr<Label> label = CborLabel("protected header", pairs[i].key);
    if (!label.ok()) return label.status();
    const cbor_item_t* v = pairs[i].value;
    std::string where = ProtectedWhere(label->Name());
    if (!labels.insert(*label).second) return Bad(where, "label appears twice");
    if (label->is_int) {
      switch (label->num) {
        case 1: {
          absl::StatusOr<int64_t> alg = CborInt(ProtectedWhere("alg"), v);
          if (!alg.ok()) return alg.status();
          for (size_t k = 0; k < std::size(kCoseAlgs); ++k) {
            if (*alg == kCoseAlgs[k]) f.alg = kAlgs[k];
          }
          if (!f.alg) return Bad(ProtectedWhere("alg"), StrCat("unsupported algorithm ", *alg));
          break;
        }
        case 2: {
          if (!cbor_isa_array(v) || !cbor_array_is_definite(v)) return Bad(ProtectedWhere("crit"), "not an array");
          f.has_crit = true;
          size_t n = cbor_array_size(v);
          if (n > kMaxCriticalHeaders) {
            return absl::ResourceExhaustedError(StrCat(ProtectedWhere("crit"), ": ", n,
                                                       " names, over kMaxCriticalHeaders (",
                                                       kMaxCriticalHeaders, ")"));
          }
          cbor_item_t** names = cbor_array_handle(v);
          for (size_t k = 0; k < n; ++k) {
            absl::StatusOr<Label> name = CborLabel(ProtectedWhere("crit"), names[k]);
            if (!name.ok()) return name.status();
            f.crit.push_back(name->Name());
            f.crit_is_label.push_back(name->is_int);
          }
          break;
        }
        case 3: {
          absl::StatusOr<std::string> cty = CborText(ProtectedWhere("cty"), v);
          if (!cty.ok()) return cty.status();
          f.cty = *std::move(cty);
          break;
        }
        case 33:
          if (absl::Status s = ReadX5Chain(ProtectedWhere("x5chain"), v, env); !s.ok()) return s;
          break;
        default:
          break;  // other registered labels: not critical (crit lists no integer), ignored
      }
      continue;
    }
    const std::string& name = label->text;
    f.present.insert(name);
    if (name == kHeaderSigningScheme || name == kHeaderVerificationPlugin ||
        name == kHeaderVerificationPluginMinVersion) {
      absl::StatusOr<std::string> s = CborText(where, v);
      if (!s.ok()) return s.status();
      (name == kHeaderSigningScheme ? f.scheme
       : name == kHeaderVerificationPlugin ? f.plugin
                                           : f.plugin_min_version) = *s;
    } else if (name == kHeaderSigningTime || name == kHeaderAuthenticSigningTime ||
               name == kHeaderExpiry) {
      absl::StatusOr<absl::Time> t = CborTime(where, v);
      if (!t.ok()) return t.status();
      (name == kHeaderSigningTime ? f.signing_time
       : name == kHeaderExpiry    ? f.expiry
                                  : f.authentic_signing_time) = *t;
    } else {
      f.extended[name] = CborValueText(v);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadCoseUnprotected(const cbor_item_t* map, const std::set<Label>& protected_labels,
                                 Envelope& env) {
  if (absl::Status s = CheckCborMapSize("unprotected header", map); !s.ok()) return s;
  struct cbor_pair* pairs = cbor_map_handle(map);
  std::set<Label> labels;
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    absl::StatusOr<Label> label = CborLabel("unprotected header", pairs[i].key);
    if (!label.ok()) return label.status();
    const cbor_item_t* v = pairs[i].value;
    std::string where = UnprotectedWhere(label->is_int && label->num == 33 ? "x5chain" : label->Name());
    if (!labels.insert(*label).second) return Bad(where, "label appears twice");
    if (label->is_int && label->num == 2) return Bad(where, "must only be in the protected header");
    if (protected_labels.count(*label) != 0) return Bad(where, "also in the protected header");
    if (label->is_int && label->num == 33) {
      if (absl::Status s = ReadX5Chain(where, v, env); !s.ok()) return s;
    } else if (!label->is_int && label->text == kHeaderTimestampSignature) {
      absl::StatusOr<std::string> token = CborBytes(where, v);
      if (!token.ok()) return token.status();
      if (absl::Status s = CheckTimestampToken(where, *token); !s.ok()) return s;
      env.timestamp_token = *std::move(token);
    } else if (!label->is_int && label->text == kHeaderSigningAgent) {
      absl::StatusOr<std::string> agent = CborText(where, v);
      if (!agent.ok()) return agent.status();
      env.signing_agent = *std::move(agent);
    }
  }
  return absl::OkStatus();
}

void AppendCborHead(std::string& out, int major, uint64_t n) {
  uint8_t m = static_cast<uint8_t>(major << 5);
  if (n < 24) {
    out.push_back(static_cast<char>(m | n));
    return;
  }
  int bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffULL ? 4 : 8;
  out.push_back(static_cast<char>(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27)));
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

// RFC 9052 section 4.4: ["Signature1", body_protected, external_aad (empty), payload].
std::string SigStructure(std::string_view body_protected, std::string_view payload) {
  std::string out;
  out.reserve(body_protected.size() + payload.size() + 32);
  AppendCborHead(out, 4, 4);
  AppendCborHead(out, 3, 10);
  out += "Signature1";
  AppendCborHead(out, 2, body_protected.size());
  out += body_protected;
  AppendCborHead(out, 2, 0);
  AppendCborHead(out, 2, payload.size());
  out += payload;
  return out;
}

absl::StatusOr<Envelope> Cose(std::string_view bytes) {
  if (bytes.size() > kMaxEnvelopeBytes) {
    return absl::ResourceExhaustedError(StrCat("COSE envelope: ", bytes.size(),
                                               " bytes, over kMaxEnvelopeBytes (",
                                               kMaxEnvelopeBytes, ")"));
  }
  // COSE_Sign1_Tagged's tag is read here: libcbor 0.8 does not decode one-byte tag 18 (0xD2).
  size_t start = 0;
  size_t depth = 1;
  absl::StatusOr<CborHead> head = ReadCborHead(bytes, 0, "COSE envelope");
  if (!head.ok()) return head.status();
  if (head->major == 6) {
    if (head->arg != 18) {
      return Bad("COSE envelope", StrCat("tag ", head->arg, " is not COSE_Sign1 (18)"));
    }
    start = head->size;
    depth = 2;
  }
  absl::StatusOr<CborPtr> root = LoadCbor(bytes, "COSE envelope", start, depth);
  if (!root.ok()) return root.status();
  const cbor_item_t* msg = root->get();
  if (!cbor_isa_array(msg) || !cbor_array_is_definite(msg) || cbor_array_size(msg) != 4) {
    return Bad("COSE envelope", "not a COSE_Sign1 (an array of 4)");
  }
  cbor_item_t** parts = cbor_array_handle(msg);

  Envelope env;
  env.format = Format::kCose;

  absl::StatusOr<std::string> body_protected = CborBytes("COSE protected header", parts[0]);
  if (!body_protected.ok()) return body_protected.status();
  if (body_protected->empty()) return Bad("protected header", "empty (alg, cty, crit are required)");
  absl::StatusOr<CborPtr> protected_map = LoadCbor(*body_protected, "protected header");
  if (!protected_map.ok()) return protected_map.status();
  SignedFields fields;
  std::set<Label> protected_labels;
  if (absl::Status s = ReadCoseProtected(protected_map->get(), fields, protected_labels, env); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSigned(fields, env); !s.ok()) return s;

  if (absl::Status s = ReadCoseUnprotected(parts[1], protected_labels, env); !s.ok()) return s;
  if (env.certs_der.empty()) return Bad(UnprotectedWhere("x5chain"), "missing");

  if (cbor_is_null(parts[2])) return Bad("COSE payload", "detached payload is not supported");
  absl::StatusOr<std::string> payload = CborBytes("COSE payload", parts[2]);
  if (!payload.ok()) return payload.status();
  if (absl::Status s = CheckBound("COSE payload", payload->size(), kMaxPayloadBytes, "kMaxPayloadBytes");
      !s.ok()) {
    return s;
  }
  env.signed_bytes = SigStructure(*body_protected, *payload);
  if (absl::Status s = SetPayload(*std::move(payload), env); !s.ok()) return s;

  absl::StatusOr<std::string> sig = CborBytes("COSE signature", parts[3]);
  if (!sig.ok()) return sig.status();
  if (absl::Status s = CheckSignatureValue("COSE signature", *sig); !s.ok()) return s;
  env.signature = *std::move(sig);
  return env;
}

// ---------------------------------------------------------------------------------------
// Payload

absl::StatusOr<TargetArtifact> Payload(std::string_view bytes) {
  absl::StatusOr<json> doc = ParseStrictJson(bytes, kMaxPayloadBytes);
  if (!doc.ok()) {
    if (absl::IsResourceExhausted(doc.status())) {
      return absl::ResourceExhaustedError(StrCat("payload: ", Sv(doc.status().message()),
                                                 " (kMaxPayloadBytes ", kMaxPayloadBytes, ")"));
    }
    return Bad("payload", Sv(doc.status().message()));
  }
  if (!doc->is_object()) return Bad("payload", "not a JSON object");
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "targetArtifact") return Bad("payload", StrCat("unknown member ", Quote(it.key())));
  }
  auto ta = doc->find("targetArtifact");
  if (ta == doc->end()) return Bad("payload \"targetArtifact\"", "missing");
  if (!ta->is_object()) return Bad("payload \"targetArtifact\"", "not a JSON object");
  TargetArtifact out;
  auto member = [&](std::string_view name) { return ta->find(std::string(name)); };
  auto where = [](std::string_view name) { return StrCat("payload targetArtifact.", name); };

  auto mt = member("mediaType");
  if (mt == ta->end()) return Bad(where("mediaType"), "missing");
  if (!mt->is_string() || mt->get_ref<const std::string&>().empty()) {
    return Bad(where("mediaType"), "not a non-empty string");
  }
  out.media_type = mt->get<std::string>();

  auto dg = member("digest");
  if (dg == ta->end()) return Bad(where("digest"), "missing");
  if (!dg->is_string()) return Bad(where("digest"), "not a string");
  absl::StatusOr<Digest> digest = Digest::Parse(dg->get_ref<const std::string&>());
  if (!digest.ok()) return Bad(where("digest"), Sv(digest.status().message()));
  out.digest = *digest;

  auto sz = member("size");
  if (sz == ta->end()) return Bad(where("size"), "missing");
  if (sz->is_number_unsigned()) {
    uint64_t v = sz->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return Bad(where("size"), "too large");
    out.size = static_cast<int64_t>(v);
  } else if (sz->is_number_integer()) {
    int64_t v = sz->get<int64_t>();
    if (v < 0) return Bad(where("size"), "negative");
    out.size = v;
  } else {
    return Bad(where("size"), "not an integer");
  }

  auto at = member("artifactType");
  if (at != ta->end()) {
    if (!at->is_string()) return Bad(where("artifactType"), "not a string");
    out.artifact_type = at->get<std::string>();
  }
  auto an = member("annotations");
  if (an != ta->end()) {
    if (!an->is_object()) return Bad(where("annotations"), "not a JSON object");
    for (auto it = an->begin(); it != an->end(); ++it) {
      if (!it.value().is_string()) {
        return Bad(StrCat(where("annotations"), " ", Quote(it.key())), "not a string");
      }
      out.annotations[it.key()] = it.value().get<std::string>();
    }
  }
  return out;
}

}  // namespace
}  // namespace envelope_impl

std::string_view FormatName(Format f) { return f == Format::kJws ? "jws" : "cose"; }

std::string_view SigningSchemeName(SigningScheme s) {
  return s == SigningScheme::kX509 ? "notary.x509" : "notary.x509.signingAuthority";
}

std::string_view AlgorithmName(Algorithm a) {
  for (size_t i = 0; i < std::size(envelope_impl::kAlgs); ++i) {
    if (envelope_impl::kAlgs[i] == a) return envelope_impl::kJwsAlgNames[i];
  }
  return "unknown";
}

absl::StatusOr<Envelope> ParseEnvelope(std::string_view bytes, std::string_view media_type) {
  if (media_type == kJwsMediaType) return ParseJws(bytes);
  if (media_type == kCoseMediaType) return ParseCose(bytes);
  return absl::InvalidArgumentError(StrCat("envelope media type ", envelope_impl::Quote(media_type),
                                           " is neither ", kJwsMediaType, " nor ", kCoseMediaType));
}

absl::StatusOr<Envelope> ParseJws(std::string_view bytes) { return envelope_impl::Jws(bytes); }

absl::StatusOr<Envelope> ParseCose(std::string_view bytes) { return envelope_impl::Cose(bytes); }

absl::StatusOr<TargetArtifact> ParsePayload(std::string_view payload) {
  return envelope_impl::Payload(payload);
}

}  // namespace layerseal::notation
