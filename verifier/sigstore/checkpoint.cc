#include "verifier/sigstore/checkpoint.h"

#include <utility>

#include "base/str_cat.h"
#include "verifier/crypto.h"
#include "verifier/digest.h"
#include "verifier/sigstore/signature.h"

namespace layerseal::sigstore {
namespace {

// The signature line prefix: U+2014 EM DASH, then a space.
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";
constexpr size_t kKeyHintBytes = 4;
constexpr size_t kRootHashBytes = 32;

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(StrCat("checkpoint: ", what));
}

// Valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A decimal uint64 with no sign, no leading zeros (but "0") and no overflow.
bool ParseSize(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// A note signer name: non-empty, no whitespace, no '+' (golang.org/x/mod/sumdb/note).
bool ValidName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '+') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view envelope) {
  if (envelope.size() > kMaxCheckpointBytes) {
    return Malformed(StrCat(envelope.size(), " bytes (kMaxCheckpointBytes ", kMaxCheckpointBytes, ")"));
  }
  if (!ValidUtf8(envelope)) return Malformed("not valid UTF-8");
  if (envelope.empty() || envelope.back() != '\n') return Malformed("does not end in a newline");
  // The signed text ends at the first blank line; signature lines follow it.
  size_t blank = envelope.find("\n\n");
  if (blank == std::string_view::npos) return Malformed("no blank line between the text and the signatures");
  Checkpoint c;
  std::string_view text = envelope.substr(0, blank + 1);
  c.signed_text = std::string(text);
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n') return Malformed("the text holds a control character");
  }
  // Text lines: origin, size, root hash, then extension lines (every line non-empty here).
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (lines.size() > 3 + kMaxNoteExtensionLines) {
      return Malformed(StrCat("more than ", kMaxNoteExtensionLines, " extension lines (kMaxNoteExtensionLines)"));
    }
  }
  if (lines.empty() || lines[0].empty()) return Malformed("no origin line");
  if (lines.size() < 3) {
    return Malformed(StrCat("the text has ", lines.size(),
                            " lines; it needs an origin, a tree size and a root hash line (one is missing)"));
  }
  c.origin = std::string(lines[0]);
  if (!ParseSize(lines[1], &c.size)) {
    return Malformed(StrCat("the second line is not a tree size (a decimal with no leading zeros): \"",
                            lines[1].substr(0, 64), "\""));
  }
  absl::StatusOr<std::string> root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != kRootHashBytes) {
    return Malformed("the third line is not a base64 root hash of 32 bytes");
  }
  c.root_hash = *std::move(root);
  for (size_t i = 3; i < lines.size(); ++i) c.extra.emplace_back(lines[i]);

  // Signature lines: "— <name> <base64(hint[4] || sig)>\n", at least one.
  std::string_view sigs = envelope.substr(blank + 2);
  if (sigs.empty()) return Malformed("no signature line");
  for (size_t pos = 0; pos < sigs.size();) {
    size_t nl = sigs.find('\n', pos);  // found: the envelope ends in '\n'
    std::string_view line = sigs.substr(pos, nl - pos);
    pos = nl + 1;
    if (c.sigs.size() == kMaxNoteSignatures) {
      return Malformed(StrCat("more than ", kMaxNoteSignatures, " signature lines (kMaxNoteSignatures)"));
    }
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) {
      return Malformed(StrCat("signature line ", c.sigs.size() + 1, " does not start with \"\xE2\x80\x94 \""));
    }
    line.remove_prefix(kSigPrefix.size());
    size_t sp = line.rfind(' ');
    if (sp == std::string_view::npos) {
      return Malformed(StrCat("signature line ", c.sigs.size() + 1, " has no name and signature"));
    }
    std::string_view name = line.substr(0, sp);
    if (!ValidName(name)) {
      return Malformed(StrCat("signature line ", c.sigs.size() + 1, " has an invalid signer name"));
    }
    absl::StatusOr<std::string> blob = Base64Decode(line.substr(sp + 1));
    if (!blob.ok() || blob->size() <= kKeyHintBytes) {
      return Malformed(StrCat("signature line ", c.sigs.size() + 1,
                              " is not base64 of a 4-byte key hint and a signature"));
    }
    NoteSignature s;
    s.name = std::string(name);
    s.key_hint = blob->substr(0, kKeyHintBytes);
    s.sig = blob->substr(kKeyHintBytes);
    c.sigs.push_back(std::move(s));
  }
  return c;
}

absl::Status VerifyCheckpoint(const Checkpoint& c, const LogKey& log, bool rekor_v2) {
  const std::string& key_id = log.checkpoint_key_id.empty() ? log.log_id : log.checkpoint_key_id;
  if (key_id.size() < kKeyHintBytes) {
    return absl::PermissionDeniedError("checkpoint: the log's key id is shorter than a key hint");
  }
  std::string_view hint = std::string_view(key_id).substr(0, kKeyHintBytes);
  if (rekor_v2) {
    if (log.origin.empty()) {
      return absl::PermissionDeniedError("checkpoint: the trusted root gives the Rekor v2 log no origin (baseUrl)");
    }
    if (c.origin != log.origin) {
      return absl::PermissionDeniedError(
          StrCat("checkpoint: origin \"", c.origin, "\" is not the log's \"", log.origin, "\""));
    }
  }
  // Candidates: the lines of this log's key (v2: under the log's own name). Witness
  // cosignatures and other keys' lines are ignored; every candidate must verify.
  size_t candidates = 0;
  for (const NoteSignature& s : c.sigs) {
    if (s.key_hint != hint) continue;
    if (rekor_v2 && s.name != log.origin) continue;
    ++candidates;
    absl::Status st = log.key == nullptr ? absl::InvalidArgumentError("the log has no public key")
                                         : VerifyMessage(log.key.get(), c.signed_text, s.sig);
    if (!st.ok()) {
      return absl::PermissionDeniedError(
          StrCat("checkpoint: the signature line of \"", s.name, "\" (key hint ", HexEncode(s.key_hint),
                 ") does not verify: ", st.message()));
    }
  }
  if (candidates == 0) {
    return absl::PermissionDeniedError(
        StrCat("checkpoint: no signature line from the log (key hint ", HexEncode(hint),
               rekor_v2 ? StrCat(", name \"", log.origin, "\"") : std::string(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace layerseal::sigstore
