// verifier/notation/discovery.h (issue 20): reading referrers answers and fallback-tag
// indexes for notation signatures, pre-selection by the thumbprint annotation (which may be
// absent, malformed or lying), 1,000 entries, OCI 1.0 entries without artifactType, other
// artifacts, the limits; and the envelope layer of a signature manifest.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "base/str_cat.h"
#include "verifier/digest.h"
#include "verifier/manifest.h"
#include "verifier/notation/discovery.h"

namespace layerseal::notation {
namespace {

using nlohmann::ordered_json;
using ::testing::HasSubstr;

std::string Hex64(char c) { return std::string(64, c); }
const std::string kTrustedA = Hex64('a');
const std::string kTrustedB = Hex64('b');
const std::vector<std::string> kTrusted = {kTrustedA, kTrustedB};

std::map<std::string, std::string> Ann(const std::string& value) {
  return {{std::string(kThumbprintAnnotation), value}};
}

TEST(NotationThumbprints, Classified) {
  EXPECT_EQ(MatchThumbprints({}, kTrusted), ThumbprintMatch::kAbsent);
  EXPECT_EQ(MatchThumbprints({{"other", "x"}}, kTrusted), ThumbprintMatch::kAbsent);
  // The leaf, an intermediate, then the root the store holds.
  EXPECT_EQ(MatchThumbprints(Ann(StrCat(R"([")", Hex64('1'), R"(",")", Hex64('2'), R"(",")", kTrustedB, R"("])")),
                             kTrusted),
            ThumbprintMatch::kTrusted);
  // Hex case does not matter.
  EXPECT_EQ(MatchThumbprints(Ann(StrCat(R"([")", Hex64('A'), R"("])")), kTrusted), ThumbprintMatch::kTrusted);
  EXPECT_EQ(MatchThumbprints(Ann(StrCat(R"([")", Hex64('c'), R"("])")), kTrusted), ThumbprintMatch::kUntrusted);
  EXPECT_EQ(MatchThumbprints(Ann("[]"), kTrusted), ThumbprintMatch::kUntrusted);
  EXPECT_EQ(MatchThumbprints(Ann(StrCat(R"([")", Hex64('c'), R"("])")), {}), ThumbprintMatch::kUntrusted);
}

TEST(NotationThumbprints, MalformedIsNotTrusted) {
  for (const std::string& bad :
       {std::string(""), std::string("not json"), StrCat(R"(")", kTrustedA, R"(")"),  // a string, not a list
        StrCat(R"({"a":")", kTrustedA, R"("})"), std::string("[1]"),
        StrCat(R"([")", kTrustedA.substr(1), R"("])"),            // 63 digits
        StrCat(R"([")", kTrustedA, R"(0"])"),                     // 65 digits
        StrCat(R"([")", std::string(63, 'a'), R"(g"])"),          // not hex
        StrCat(R"([")", kTrustedA, R"(", 7])"),                   // one good, one not a string
        StrCat(R"([")", kTrustedA, R"("] trailing)"),
        StrCat(R"(["sha256:)", kTrustedA, R"("])")}) {
    EXPECT_EQ(MatchThumbprints(Ann(bad), kTrusted), ThumbprintMatch::kMalformed) << bad;
  }
  // Over kMaxThumbprintAnnotationBytes, even when it would name a trusted one.
  std::string big = "[";
  while (big.size() <= kMaxThumbprintAnnotationBytes) big += StrCat(R"(")", Hex64('9'), R"(",)");
  big += StrCat(R"(")", kTrustedA, R"("])");
  EXPECT_EQ(MatchThumbprints(Ann(big), kTrusted), ThumbprintMatch::kMalformed);
}

// An index entry: an OCI image manifest descriptor with `artifact_type` (omitted when
// "-") and the thumbprint annotation `thumbs` (omitted when empty).
ordered_json Entry(int n, const std::string& artifact_type, const std::string& thumbs,
                   std::string media_type = std::string(kOciManifest)) {
  ordered_json d = {{"mediaType", media_type},
                    {"digest", Digest::Sha256Of(StrCat("sig", n)).str()},
                    {"size", 700 + n}};
  if (artifact_type != "-") d["artifactType"] = artifact_type;
  if (!thumbs.empty()) d["annotations"] = {{std::string(kThumbprintAnnotation), thumbs}};
  return d;
}
std::string Thumbs(const std::string& hex) { return StrCat(R"([")", hex, R"("])"); }
std::string Index(const std::vector<ordered_json>& entries) {
  return ordered_json({{"schemaVersion", 2}, {"mediaType", std::string(kOciIndex)}, {"manifests", entries}})
      .dump();
}
const std::string kSig(kSignatureArtifactType);

TEST(NotationIndex, ThousandEntriesOneParseTrustedFirst) {
  std::vector<ordered_json> entries;
  for (int i = 0; i < 1000; ++i) {
    if (i == 999) {
      entries.push_back(Entry(i, kSig, Thumbs(kTrustedB)));  // the real one, listed last
    } else if (i % 4 == 0) {
      entries.push_back(Entry(i, "application/spdx+json", ""));  // another artifact
    } else if (i % 4 == 1) {
      entries.push_back(Entry(i, kSig, Thumbs(Hex64('c'))));  // an untrusted signer
    } else if (i % 4 == 2) {
      entries.push_back(Entry(i, kSig, ""));  // no annotation
    } else {
      entries.push_back(Entry(i, "-", ""));  // OCI 1.0: no artifactType
    }
  }
  absl::StatusOr<CandidateList> l = ParseSignatureIndex(Index(entries), kOciIndex, kTrusted, true);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->skipped_untrusted, 250u);
  EXPECT_EQ(l->left_out, 0u);
  ASSERT_EQ(l->candidates.size(), 1u + 250 + 249);  // 999 is the trusted one, not i%4==3
  EXPECT_EQ(l->candidates[0].manifest.digest, Digest::Sha256Of("sig999"));
  EXPECT_EQ(l->candidates[0].match, ThumbprintMatch::kTrusted);
  EXPECT_TRUE(l->candidates[0].artifact_type_known);
  // Then the rest in index order: 2 (annotation absent), 3 (no artifactType), 6, 7, ...
  EXPECT_EQ(l->candidates[1].manifest.digest, Digest::Sha256Of("sig2"));
  EXPECT_EQ(l->candidates[1].match, ThumbprintMatch::kAbsent);
  EXPECT_TRUE(l->candidates[1].artifact_type_known);
  EXPECT_EQ(l->candidates[2].manifest.digest, Digest::Sha256Of("sig3"));
  EXPECT_FALSE(l->candidates[2].artifact_type_known);
  EXPECT_EQ(l->candidates[3].manifest.digest, Digest::Sha256Of("sig6"));

  // Without pre-selection (authenticity not enforced: audit) the untrusted ones stay.
  l = ParseSignatureIndex(Index(entries), kOciIndex, kTrusted, false);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->skipped_untrusted, 0u);
  EXPECT_EQ(l->candidates.size(), 1u + 250 + 249 + 250);
  EXPECT_EQ(l->candidates[1].manifest.digest, Digest::Sha256Of("sig1"));
  EXPECT_EQ(l->candidates[1].match, ThumbprintMatch::kUntrusted);
}

// A lying annotation (naming a trusted certificate the envelope does not carry) only puts
// the entry first; a malformed one is a candidate after the trusted ones, never skipped.
TEST(NotationIndex, LyingAndMalformedAnnotations) {
  std::vector<ordered_json> entries = {Entry(0, kSig, "not a list"), Entry(1, kSig, Thumbs(Hex64('e'))),
                                       Entry(2, kSig, Thumbs(kTrustedA)),  // says trusted, may lie
                                       Entry(3, kSig, StrCat(R"([")", Hex64('z'), R"("])"))};
  absl::StatusOr<CandidateList> l = ParseSignatureIndex(Index(entries), kOciIndex, kTrusted, true);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->candidates.size(), 3u);
  EXPECT_EQ(l->candidates[0].manifest.digest, Digest::Sha256Of("sig2"));
  EXPECT_EQ(l->candidates[1].match, ThumbprintMatch::kMalformed);
  EXPECT_EQ(l->candidates[2].match, ThumbprintMatch::kMalformed);
  EXPECT_EQ(l->skipped_untrusted, 1u);
}

TEST(NotationIndex, OtherArtifactsAndMediaTypesAreSkipped) {
  std::vector<ordered_json> entries = {
      Entry(0, "application/vnd.dev.sigstore.bundle.v0.3+json", Thumbs(kTrustedA)),
      Entry(1, "application/vnd.cncf.notary.signature.v2", ""),   // a near miss
      Entry(2, kSig, "", std::string(kDockerManifest)),          // not an OCI manifest
      Entry(3, kSig, "", std::string(kOciIndex)),                // an index
      Entry(4, kSig, "")};
  absl::StatusOr<CandidateList> l = ParseSignatureIndex(Index(entries), kOciIndex, kTrusted, true);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->candidates.size(), 1u);
  EXPECT_EQ(l->candidates[0].manifest.digest, Digest::Sha256Of("sig4"));
  EXPECT_EQ(l->skipped_untrusted, 0u);
  // An empty index, and one whose entries are all other artifacts: nothing.
  l = ParseSignatureIndex(Index({}), kOciIndex, kTrusted, true);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->candidates.empty());
}

TEST(NotationIndex, EntriesBeyondTheLimitAreLeftOut) {
  std::vector<ordered_json> entries;
  for (size_t i = 0; i < kMaxIndexEntries + 5; ++i) {
    entries.push_back(Entry(static_cast<int>(i), kSig, i == kMaxIndexEntries + 1 ? Thumbs(kTrustedA) : ""));
  }
  absl::StatusOr<CandidateList> l = ParseSignatureIndex(Index(entries), kOciIndex, kTrusted, true);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->left_out, 5u);
  EXPECT_EQ(l->candidates.size(), kMaxIndexEntries);
  // The trusted one beyond the limit was never examined: nothing is kTrusted.
  EXPECT_EQ(l->candidates[0].match, ThumbprintMatch::kAbsent);
}

TEST(NotationIndex, MalformedListingsAreErrorsNamingWhat) {
  auto err = [](std::string_view bytes, std::string_view ct = kOciIndex) {
    absl::StatusOr<CandidateList> l = ParseSignatureIndex(bytes, ct, kTrusted, true);
    EXPECT_FALSE(l.ok());
    return l.ok() ? std::string() : std::string(Sv(l.status().message()));
  };
  EXPECT_THAT(err("not json"), HasSubstr("signature index"));
  EXPECT_THAT(err("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(err(R"({"schemaVersion":2})"), HasSubstr("missing \"manifests\""));
  EXPECT_THAT(err(R"({"manifests":{}})"), HasSubstr("must be an array"));
  EXPECT_THAT(err(Index({}), kOciManifest), HasSubstr("Content-Type"));
  EXPECT_THAT(err(ordered_json({{"mediaType", std::string(kOciManifest)}, {"manifests", ordered_json::array()}}).dump()),
              HasSubstr("\"mediaType\""));
  ordered_json bad_at = Entry(0, kSig, "");
  bad_at["artifactType"] = 7;
  EXPECT_THAT(err(Index({Entry(1, kSig, ""), bad_at})), HasSubstr("manifests[1]: \"artifactType\" must be a string"));
  ordered_json bad_digest = Entry(0, kSig, "");
  bad_digest["digest"] = "sha256:xyz";
  EXPECT_THAT(err(Index({bad_digest})), HasSubstr("manifests[0]"));
  ordered_json bad_ann = Entry(0, kSig, "");
  bad_ann["annotations"] = {{std::string(kThumbprintAnnotation), ordered_json::array({kTrustedA})}};
  EXPECT_THAT(err(Index({bad_ann})), HasSubstr("must be a string"));
  // Over the manifest limit.
  absl::StatusOr<CandidateList> big =
      ParseSignatureIndex(std::string(kMaxManifestBytes + 1, ' '), kOciIndex, kTrusted, true);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  // A Content-Type with parameters and another case is the index type.
  absl::StatusOr<CandidateList> ok = ParseSignatureIndex(
      Index({Entry(0, kSig, "")}), "Application/VND.oci.image.index.v1+json; charset=utf-8", kTrusted, true);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

// A signature manifest as notation writes it; `artifact_type` "-" omits the member (OCI 1.0:
// then the config's mediaType says what it is).
ImageManifest SigManifest(const std::string& artifact_type, const std::string& config_type,
                          std::vector<std::pair<std::string, int64_t>> layers,
                          std::string extra_annotations = "") {
  ordered_json m = {{"schemaVersion", 2}, {"mediaType", std::string(kOciManifest)}};
  if (artifact_type != "-") m["artifactType"] = artifact_type;
  m["config"] = {{"mediaType", config_type}, {"digest", Digest::Sha256Of("{}").str()}, {"size", 2}};
  m["layers"] = ordered_json::array();
  for (const auto& [type, size] : layers) {
    m["layers"].push_back({{"mediaType", type}, {"digest", Digest::Sha256Of(type).str()}, {"size", size}});
  }
  m["subject"] = {{"mediaType", std::string(kOciManifest)}, {"digest", Digest::Sha256Of("img").str()}, {"size", 9}};
  if (!extra_annotations.empty()) m["annotations"] = ordered_json::parse(extra_annotations);
  absl::StatusOr<ImageManifest> parsed = ParseImageManifest(m.dump(), kOciManifest);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : ImageManifest{};
}
const std::string kEmpty = "application/vnd.oci.empty.v1+json";
const std::string kJws(kJwsMediaType);
const std::string kCose(kCoseMediaType);

TEST(NotationEnvelopeLayer, FoundByArtifactTypeOrConfig) {
  absl::StatusOr<std::optional<Descriptor>> l = EnvelopeLayer(SigManifest(kSig, kEmpty, {{kJws, 4000}}));
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_TRUE(l->has_value());
  EXPECT_EQ((*l)->media_type, kJws);
  EXPECT_EQ((*l)->size, 4000);
  // OCI 1.0 form: no artifactType, the config says it.
  l = EnvelopeLayer(SigManifest("-", kSig, {{kCose, 3000}}));
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_TRUE(l->has_value());
  EXPECT_EQ((*l)->media_type, kCose);
  // Exactly at the limit.
  l = EnvelopeLayer(SigManifest(kSig, kEmpty, {{kJws, static_cast<int64_t>(kMaxEnvelopeBytes)}}));
  EXPECT_TRUE(l.ok() && l->has_value()) << l.status();
}

TEST(NotationEnvelopeLayer, OtherArtifactsAreNotSignatures) {
  for (const ImageManifest& m :
       {SigManifest("application/vnd.dev.sigstore.bundle.v0.3+json", kEmpty,
                    {{"application/vnd.dev.sigstore.bundle.v0.3+json", 100}}),
        SigManifest("-", std::string(kOciConfig), {{std::string(kOciLayerGzip), 100}}),
        // artifactType decides over the config's mediaType.
        SigManifest("application/spdx+json", kSig, {{kJws, 100}})}) {
    absl::StatusOr<std::optional<Descriptor>> l = EnvelopeLayer(m);
    ASSERT_TRUE(l.ok()) << l.status();
    EXPECT_FALSE(l->has_value());
  }
}

TEST(NotationEnvelopeLayer, BadSignatureManifests) {
  auto status = [](const ImageManifest& m) { return EnvelopeLayer(m).status(); };
  absl::Status s = status(SigManifest(kSig, kEmpty, {}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("0 layers"));
  s = status(SigManifest(kSig, kEmpty, {{kJws, 10}, {kJws, 10}}));
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("2 layers"));
  s = status(SigManifest(kSig, kEmpty, {{"application/json", 10}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("\"application/json\""));
  s = status(SigManifest(kSig, kEmpty, {{kJws, static_cast<int64_t>(kMaxEnvelopeBytes) + 1}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  ImageManifest m = SigManifest(kSig, kEmpty, {{kJws, 10}});
  m.json["artifactType"] = 1;
  s = status(m);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Sv(s.message())), HasSubstr("artifactType"));
}

TEST(NotationEnvelopeLayer, ManifestAnnotationsStringsOnly) {
  ImageManifest m = SigManifest(kSig, kEmpty, {{kJws, 10}},
                                StrCat(R"({")", kThumbprintAnnotation, R"(":"[]","n":1})"));
  std::map<std::string, std::string> a = ManifestAnnotations(m);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a[std::string(kThumbprintAnnotation)], "[]");
  EXPECT_TRUE(ManifestAnnotations(SigManifest(kSig, kEmpty, {{kJws, 10}})).empty());
}

}  // namespace
}  // namespace layerseal::notation
