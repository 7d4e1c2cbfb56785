// A verdict as people and programs read it: text lines, or JSON (the layerseal.v1.Verdict
// message's canonical JSON mapping, built by verifier/verdict_codec.h).
#ifndef LAYERSEAL_CLI_VERDICT_OUTPUT_H_
#define LAYERSEAL_CLI_VERDICT_OUTPUT_H_

#include <cstddef>
#include <string>

#include "verifier/verdict.h"
#include "verifier/verdict_codec.h"

namespace layerseal::cli {

std::string VerdictJson(const Verdict& v);  // one line, every field present
// Lines for people: the decision, reason and detail, then the digest, key, signer (which
// signature admitted the image: SignerText), policy and time taken.
std::string VerdictText(const Verdict& v);

// Hex digits of a digest that ShortDigest keeps.
inline constexpr size_t kShortDigestHex = 12;
// "sha256:" and the first kShortDigestHex hex digits of `digest`; anything shorter or
// without a ':' as it is.
std::string ShortDigest(const std::string& digest);
// Which signature admitted the image: the kind and the key's short id ("cosign-key
// sha256:0123456789ab"), or a keyless subject with its issuer ("SUBJECT (ISSUER)"; a
// notation signer likewise, the leaf certificate's subject and issuer DNs); then
// " rekor#N", the Rekor log index, when there was an entry. "" when the verdict names none.
// Not made terminal-safe: the caller cleans it (the subject comes from a certificate).
// `layerseal events` (SIGNER column) and `layerseal verify` (text output) print it.
std::string SignerText(const v1::Verdict& v);

}  // namespace layerseal::cli

#endif  // LAYERSEAL_CLI_VERDICT_OUTPUT_H_
