// The verdict codec (verifier/verdict.h names, verifier/verdict_codec.h): every Decision,
// Reason and Mode has a name that parses back; a Verdict survives the proto, the JSON
// members, the agent's event log line and its verdict cache file; unknown names are errors
// naming the text; the event log and cache lines keep their bytes (docs/agent.md).
//
// Adding a Reason without a row in verdict.cc's table does not compile (static_assert);
// with a row, the loops below (over the kCount sentinel) carry it through every form.
#include "verifier/verdict_codec.h"

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node-agent/event_log.h"
#include "node-agent/verdict_cache.h"
#include "tests/support/agent_unit.h"
#include "tests/support/files.h"
#include "verifier/reference.h"

namespace layerseal {
namespace {

using ::testing::HasSubstr;
using layerseal::testing::ReadAll;
using layerseal::testing::WriteAll;

std::vector<Decision> AllDecisions() {
  std::vector<Decision> out;
  for (int i = 0; i < kDecisionCount; ++i) out.push_back(static_cast<Decision>(i));
  return out;
}
std::vector<Reason> AllReasons() {
  std::vector<Reason> out;
  for (int i = 0; i < kReasonCount; ++i) out.push_back(static_cast<Reason>(i));
  return out;
}
std::vector<Mode> AllModes() {
  std::vector<Mode> out;
  for (int i = 0; i < kModeCount; ++i) out.push_back(static_cast<Mode>(i));
  return out;
}

std::string Message(const absl::Status& s) { return std::string(Sv(s.message())); }

// Every field filled, distinct per (decision, reason, mode).
Verdict Full(Decision d, Reason r, Mode m) {
  Verdict v;
  v.decision = d;
  v.reason = r;
  v.mode = m;
  v.detail = StrCat("detail of ", ReasonName(r), " \"quoted\" \xc3\xa9");
  v.reference = "registry.example.com/team/app:1.0";
  v.manifest_digest = Digest::Sha256Of(StrCat(DecisionName(d), ReasonName(r), ModeName(m)));
  v.key_id = "sha256:key";
  v.signer_kind = "cosign-keyless";
  v.signer_issuer = "https://token.actions.githubusercontent.com";
  v.signer_subject = "https://github.com/team/app/.github/workflows/release.yml@refs/tags/v1";
  v.rekor_log_index = 123'456'789'012;  // beyond 32 bits, within a double's exact integers
  v.rekor_log_id = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
  v.policy_version = "sha256:policy";
  v.scope = "registry.example.com/team";
  v.duration = absl::Microseconds(12'500);  // exactly representable in milliseconds
  return v;
}

// A verdict as a seal admits it: no keyless identity, no log entry.
Verdict SealAllow() {
  Verdict v = Full(Decision::kAllow, Reason::kVerified, Mode::kEnforce);
  v.signer_kind = "seal";
  v.signer_issuer.clear();
  v.signer_subject.clear();
  v.rekor_log_index = -1;
  v.rekor_log_id.clear();
  return v;
}

void ExpectSame(const Verdict& got, const Verdict& want) {
  EXPECT_EQ(DecisionName(got.decision), DecisionName(want.decision));
  EXPECT_EQ(ReasonName(got.reason), ReasonName(want.reason));
  EXPECT_EQ(ModeName(got.mode), ModeName(want.mode));
  EXPECT_EQ(got.detail, want.detail);
  EXPECT_EQ(got.reference, want.reference);
  EXPECT_EQ(got.manifest_digest.has_value(), want.manifest_digest.has_value());
  if (got.manifest_digest && want.manifest_digest) {
    EXPECT_EQ(got.manifest_digest->str(), want.manifest_digest->str());
  }
  EXPECT_EQ(got.key_id, want.key_id);
  EXPECT_EQ(got.signer_kind, want.signer_kind);
  EXPECT_EQ(got.signer_issuer, want.signer_issuer);
  EXPECT_EQ(got.signer_subject, want.signer_subject);
  EXPECT_EQ(got.rekor_log_index, want.rekor_log_index);
  EXPECT_EQ(got.rekor_log_id, want.rekor_log_id);
  EXPECT_EQ(got.policy_version, want.policy_version);
  EXPECT_EQ(got.scope, want.scope);
  EXPECT_EQ(got.duration, want.duration);
}

// ---- names ----------------------------------------------------------------------------

TEST(VerdictNamesTest, EveryValueHasANameThatParsesBack) {
  for (Decision d : AllDecisions()) {
    EXPECT_NE(DecisionName(d), "UNKNOWN") << static_cast<int>(d);
    absl::StatusOr<Decision> back = ParseDecision(DecisionName(d));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, d);
  }
  for (Reason r : AllReasons()) {
    EXPECT_NE(ReasonName(r), "UNKNOWN") << static_cast<int>(r);
    absl::StatusOr<Reason> back = ParseReason(ReasonName(r));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, r);
  }
  for (Mode m : AllModes()) {
    EXPECT_NE(ModeName(m), "unknown") << static_cast<int>(m);
    absl::StatusOr<Mode> back = ParseMode(ModeName(m));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, m);
  }
}

// The names are a wire contract (events, metrics labels, cache files, the controller's
// store): renaming one breaks readers. A new value adds a line here.
TEST(VerdictNamesTest, WireNamesAreStable) {
  EXPECT_EQ(DecisionName(Decision::kAllow), "ALLOW");
  EXPECT_EQ(DecisionName(Decision::kDeny), "DENY");
  EXPECT_EQ(ReasonName(Reason::kVerified), "VERIFIED");
  EXPECT_EQ(ReasonName(Reason::kInsecureAcceptAnything), "INSECURE_ACCEPT_ANYTHING");
  EXPECT_EQ(ReasonName(Reason::kRejectedByPolicy), "REJECTED_BY_POLICY");
  EXPECT_EQ(ReasonName(Reason::kInvalidManifest), "INVALID_MANIFEST");
  EXPECT_EQ(ReasonName(Reason::kNotSigned), "NOT_SIGNED");
  EXPECT_EQ(ReasonName(Reason::kMalformedSeal), "MALFORMED_SEAL");
  EXPECT_EQ(ReasonName(Reason::kUntrustedKey), "UNTRUSTED_KEY");
  EXPECT_EQ(ReasonName(Reason::kBadSignature), "BAD_SIGNATURE");
  EXPECT_EQ(ReasonName(Reason::kIntegrityMismatch), "INTEGRITY_MISMATCH");
  EXPECT_EQ(ReasonName(Reason::kConfigMismatch), "CONFIG_MISMATCH");
  EXPECT_EQ(ReasonName(Reason::kRegistryError), "REGISTRY_ERROR");
  EXPECT_EQ(ReasonName(Reason::kLimitExceeded), "LIMIT_EXCEEDED");
  EXPECT_EQ(ReasonName(Reason::kPolicyUnavailable), "POLICY_UNAVAILABLE");
  EXPECT_EQ(ModeName(Mode::kEnforce), "enforce");
  EXPECT_EQ(ModeName(Mode::kWarn), "warn");
  EXPECT_EQ(ModeName(Mode::kAudit), "audit");
  EXPECT_EQ(ReasonName(Reason::kCount), "UNKNOWN");
}

TEST(VerdictNamesTest, UnknownNamesAreErrorsNamingTheText) {
  absl::StatusOr<Reason> r = ParseReason("SMELLS_FINE");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(r.status()), HasSubstr("reason \"SMELLS_FINE\""));
  EXPECT_THAT(Message(r.status()), HasSubstr("VERIFIED"));  // the known names
  absl::StatusOr<Mode> m = ParseMode("Enforce");  // case matters: wire names
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(Message(m.status()), HasSubstr("mode \"Enforce\""));
  absl::StatusOr<Decision> d = ParseDecision("");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(Message(d.status()), HasSubstr("verdict \"\""));
  // A long name is quoted in part only.
  absl::StatusOr<Reason> longer = ParseReason(std::string(10'000, 'X'));
  ASSERT_FALSE(longer.ok());
  EXPECT_LT(Message(longer.status()).size(), 1000u);
}

// ---- proto ----------------------------------------------------------------------------

TEST(VerdictCodecTest, ProtoCarriesEveryField) {
  Verdict v = Full(Decision::kDeny, Reason::kBadSignature, Mode::kWarn);
  v1::Verdict p = VerdictToProto(v);
  EXPECT_EQ(p.verdict(), "DENY");
  EXPECT_EQ(p.reason(), "BAD_SIGNATURE");
  EXPECT_EQ(p.mode(), "warn");
  EXPECT_EQ(p.detail(), v.detail);
  EXPECT_EQ(p.reference(), v.reference);
  EXPECT_EQ(p.digest(), v.manifest_digest->str());
  EXPECT_EQ(p.key_id(), "sha256:key");
  EXPECT_EQ(p.policy_version(), "sha256:policy");
  EXPECT_EQ(p.scope(), "registry.example.com/team");
  EXPECT_DOUBLE_EQ(p.duration_ms(), 12.5);
  EXPECT_EQ(p.signer_kind(), "cosign-keyless");
  EXPECT_EQ(p.signer_issuer(), "https://token.actions.githubusercontent.com");
  EXPECT_EQ(p.signer_subject(), v.signer_subject);
  ASSERT_TRUE(p.has_rekor_log_index());
  EXPECT_EQ(p.rekor_log_index(), 123'456'789'012);
  EXPECT_EQ(p.rekor_log_id(), v.rekor_log_id);
  v.manifest_digest.reset();
  EXPECT_EQ(VerdictToProto(v).digest(), "");
}

// Issue 17: which signature admitted the image. A seal has no log entry: the index is absent
// on the wire (not 0, which is a real Rekor index), and -1 again when read back.
TEST(VerdictCodecTest, SignerFieldsOfASealAndOfAnEntryAtIndexZero) {
  v1::Verdict p = VerdictToProto(SealAllow());
  EXPECT_EQ(p.signer_kind(), "seal");
  EXPECT_FALSE(p.has_rekor_log_index());
  absl::StatusOr<Verdict> back = VerdictFromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, SealAllow());
  EXPECT_EQ(back->rekor_log_index, -1);

  Verdict first = Full(Decision::kAllow, Reason::kVerified, Mode::kEnforce);
  first.rekor_log_index = 0;  // the log's first entry
  p = VerdictToProto(first);
  ASSERT_TRUE(p.has_rekor_log_index());
  back = VerdictFromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rekor_log_index, 0);
  nlohmann::json j = VerdictJsonMembers(first);
  ASSERT_TRUE(j.contains("rekor_log_index")) << j.dump();
  EXPECT_EQ(j["rekor_log_index"], 0);
  back = VerdictFromJsonMembers(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rekor_log_index, 0);
}

// Events stored by agents older than the fields (the controller keeps their bytes) read
// as "no signer recorded" and "no log entry".
TEST(VerdictCodecTest, AProtoFromBeforeTheSignerFieldsReads) {
  v1::Verdict old;
  old.set_reference("registry.example.com/team/app:1.0");
  old.set_verdict("ALLOW");
  old.set_reason("VERIFIED");
  old.set_key_id("sha256:key");
  old.set_mode("enforce");
  // As an agent of before wrote it: fields 1-10 only.
  v1::Verdict parsed;
  ASSERT_TRUE(parsed.ParseFromString(old.SerializeAsString()));
  absl::StatusOr<Verdict> v = VerdictFromProto(parsed);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->key_id, "sha256:key");
  EXPECT_EQ(v->signer_kind, "");
  EXPECT_EQ(v->signer_issuer, "");
  EXPECT_EQ(v->signer_subject, "");
  EXPECT_EQ(v->rekor_log_index, -1);
  EXPECT_EQ(v->rekor_log_id, "");
}

TEST(VerdictCodecTest, EveryDecisionReasonAndModeRoundTripsThroughTheProto) {
  for (Decision d : AllDecisions()) {
    for (Reason r : AllReasons()) {
      for (Mode m : AllModes()) {
        SCOPED_TRACE(StrCat(DecisionName(d), " ", ReasonName(r), " ", ModeName(m)));
        Verdict v = Full(d, r, m);
        absl::StatusOr<Verdict> back = VerdictFromProto(VerdictToProto(v));
        ASSERT_TRUE(back.ok()) << back.status();
        ExpectSame(*back, v);
        v.manifest_digest.reset();
        back = VerdictFromProto(VerdictToProto(v));
        ASSERT_TRUE(back.ok()) << back.status();
        ExpectSame(*back, v);
      }
    }
  }
}

TEST(VerdictCodecTest, BadProtoFieldsAreErrorsNamingFieldAndText) {
  v1::Verdict good = VerdictToProto(Full(Decision::kAllow, Reason::kVerified, Mode::kEnforce));
  struct Case {
    std::function<void(v1::Verdict&)> damage;
    std::string want;
  };
  std::vector<Case> cases = {
      {[](v1::Verdict& p) { p.set_reason("SMELLS_FINE"); }, "reason: unknown reason \"SMELLS_FINE\""},
      {[](v1::Verdict& p) { p.set_reason(""); }, "reason: unknown reason \"\""},
      {[](v1::Verdict& p) { p.set_verdict("MAYBE"); }, "verdict: unknown verdict \"MAYBE\""},
      {[](v1::Verdict& p) { p.set_mode("loud"); }, "mode: unknown mode \"loud\""},
      {[](v1::Verdict& p) { p.set_digest("sha256:nothex"); }, "verdict field digest"},
      {[](v1::Verdict& p) { p.set_duration_ms(-1); }, "duration_ms"},
      {[](v1::Verdict& p) { p.set_duration_ms(std::numeric_limits<double>::quiet_NaN()); },
       "duration_ms"},
      {[](v1::Verdict& p) { p.set_duration_ms(std::numeric_limits<double>::infinity()); },
       "duration_ms"},
      // Finite as a double, infinite as an absl::Duration: could not be written back.
      {[](v1::Verdict& p) { p.set_duration_ms(1e300); }, "duration_ms"},
      {[](v1::Verdict& p) { p.set_rekor_log_index(-1); }, "rekor_log_index: -1 is negative"},
      {[](v1::Verdict& p) { p.set_rekor_log_index(INT64_MIN); }, "rekor_log_index"},
  };
  for (const Case& c : cases) {
    v1::Verdict p = good;
    c.damage(p);
    absl::StatusOr<Verdict> v = VerdictFromProto(p);
    ASSERT_FALSE(v.ok()) << c.want;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(v.status()), HasSubstr(c.want));
  }
}

// ---- JSON members ---------------------------------------------------------------------

TEST(VerdictCodecTest, JsonMembersAreTheProtoFieldsUnderTheirProtoNames) {
  nlohmann::json j = VerdictJsonMembers(Full(Decision::kAllow, Reason::kVerified, Mode::kAudit));
  const google::protobuf::Descriptor& d = *v1::Verdict::descriptor();
  ASSERT_EQ(j.size(), static_cast<size_t>(d.field_count())) << j.dump();
  for (int i = 0; i < d.field_count(); ++i) {
    const google::protobuf::FieldDescriptor& f = *d.field(i);
    // The codec maps strings, doubles and optional int64s only: a field of another type
    // (or a plain int64, whose absence could not be told from 0) needs code there.
    ASSERT_TRUE(f.cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING ||
                f.cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE ||
                (f.cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64 &&
                 f.has_presence()))
        << f.name();
    EXPECT_TRUE(j.contains(f.name())) << f.name();
  }
  EXPECT_EQ(j["key_id"], "sha256:key");
  EXPECT_EQ(j["verdict"], "ALLOW");
  EXPECT_EQ(j["mode"], "audit");
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 12.5);
  EXPECT_EQ(j["signer_kind"], "cosign-keyless");
  EXPECT_EQ(j["signer_issuer"], "https://token.actions.githubusercontent.com");
  EXPECT_EQ(j["rekor_log_index"], 123'456'789'012);  // a JSON integer, not a string
  // No log entry: no member (as proto3 JSON leaves out an absent optional field).
  nlohmann::json seal = VerdictJsonMembers(SealAllow());
  EXPECT_FALSE(seal.contains("rekor_log_index")) << seal.dump();
  EXPECT_EQ(seal["signer_kind"], "seal");
}

TEST(VerdictCodecTest, EveryDecisionReasonAndModeRoundTripsThroughJsonMembers) {
  for (Decision d : AllDecisions()) {
    for (Reason r : AllReasons()) {
      for (Mode m : AllModes()) {
        SCOPED_TRACE(StrCat(DecisionName(d), " ", ReasonName(r), " ", ModeName(m)));
        Verdict v = Full(d, r, m);
        // Through the text, as the files hold it, beside members of the file's own.
        nlohmann::json j = VerdictJsonMembers(v);
        j["other"] = {{"member", 1}};
        absl::StatusOr<Verdict> back = VerdictFromJsonMembers(nlohmann::json::parse(j.dump()));
        ASSERT_TRUE(back.ok()) << back.status();
        ExpectSame(*back, v);
      }
    }
  }
}

TEST(VerdictCodecTest, BadJsonMembersAreErrorsNotExceptions) {
  nlohmann::json good = VerdictJsonMembers(Full(Decision::kAllow, Reason::kVerified, Mode::kEnforce));
  nlohmann::json bad = good;
  bad["reason"] = 5;
  absl::StatusOr<Verdict> v;
  EXPECT_NO_THROW(v = VerdictFromJsonMembers(bad));
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(Message(v.status()), HasSubstr("\"reason\" is not a string"));
  bad = good;
  bad["duration_ms"] = "fast";
  EXPECT_NO_THROW(v = VerdictFromJsonMembers(bad));
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(Message(v.status()), HasSubstr("\"duration_ms\" is not a number"));
  bad = good;
  bad["reason"] = "SMELLS_FINE";
  v = VerdictFromJsonMembers(bad);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(Message(v.status()), HasSubstr("\"SMELLS_FINE\""));
  EXPECT_FALSE(VerdictFromJsonMembers(nlohmann::json::array({1})).ok());
  bad = good;
  bad.erase("mode");  // absent: "", which is no mode
  EXPECT_FALSE(VerdictFromJsonMembers(bad).ok());
  for (nlohmann::json index : {nlohmann::json(1.5), nlohmann::json("7"), nlohmann::json(nullptr),
                               nlohmann::json(UINT64_MAX), nlohmann::json(-3)}) {
    SCOPED_TRACE(index.dump());
    bad = good;
    bad["rekor_log_index"] = index;
    EXPECT_NO_THROW(v = VerdictFromJsonMembers(bad));
    ASSERT_FALSE(v.ok());
    EXPECT_THAT(Message(v.status()), HasSubstr("rekor_log_index"));
  }
  bad = good;
  bad["signer_subject"] = 7;
  v = VerdictFromJsonMembers(bad);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(Message(v.status()), HasSubstr("\"signer_subject\" is not a string"));
}

// ---- the agent's files ------------------------------------------------------------------

using TempDir = layerseal::testing::UnitTempDir;

plugin::VerdictEvent Event(const Verdict& v) {
  plugin::VerdictEvent e;
  e.gate = "PullImage";
  e.image = v.reference;
  e.pod = plugin::PodRef{.ns = "team-a", .name = "web-0", .uid = "uid-1"};
  e.judgement.verdict = v;
  e.judgement.cached = true;
  e.admitted = true;
  e.gate_time = absl::Milliseconds(15);
  e.time = absl::FromUnixMillis(1'800'000'000'123);
  return e;
}

// The line as docs/agent.md shows it, byte for byte: the members the agent wrote before the
// codec, and since issue 17 the signer members (a seal: no rekor_log_index member).
TEST(VerdictCodecFilesTest, EventLogLineKeepsItsBytes) {
  TempDir dir;
  Verdict v = SealAllow();
  v.detail = "signed by key-1";
  v.duration = absl::Milliseconds(12);
  {
    absl::StatusOr<std::unique_ptr<agent::EventLog>> log =
        agent::EventLog::Open("node-7", dir / "events.jsonl", nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Report(Event(v));
  }
  EXPECT_EQ(ReadAll(dir / "events.jsonl"),
            StrCat("{\"admitted\":true,\"cached\":true,\"detail\":\"signed by key-1\",\"digest\":\"",
                   v.manifest_digest->str(),
                   "\",\"gate\":\"PullImage\",\"gate_ms\":15.0,"
                   "\"image\":\"registry.example.com/team/app:1.0\",\"key_id\":\"sha256:key\","
                   "\"mode\":\"enforce\",\"node\":\"node-7\","
                   "\"pod\":{\"name\":\"web-0\",\"namespace\":\"team-a\",\"uid\":\"uid-1\"},"
                   "\"policy_version\":\"sha256:policy\",\"reason\":\"VERIFIED\","
                   "\"reference\":\"registry.example.com/team/app:1.0\",\"rekor_log_id\":\"\","
                   "\"scope\":\"registry.example.com/team\",\"signer_issuer\":\"\","
                   "\"signer_kind\":\"seal\",\"signer_subject\":\"\","
                   "\"time\":\"2027-01-15T08:00:00.123Z\","
                   "\"verdict\":\"ALLOW\",\"verify_ms\":12.0}\n"));
}

TEST(VerdictCodecFilesTest, EveryVerdictRoundTripsThroughTheEventLog) {
  TempDir dir;
  std::vector<Verdict> written;
  {
    absl::StatusOr<std::unique_ptr<agent::EventLog>> log =
        agent::EventLog::Open("node-7", dir / "events.jsonl", nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    for (Decision d : AllDecisions()) {
      for (Reason r : AllReasons()) {
        for (Mode m : AllModes()) {
          written.push_back(Full(d, r, m));
          (*log)->Report(Event(written.back()));
        }
      }
    }
  }
  std::vector<std::string> lines;
  std::string text = ReadAll(dir / "events.jsonl");
  for (size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
    lines.push_back(text.substr(at, end - at));
  }
  ASSERT_EQ(lines.size(), written.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    nlohmann::json j = nlohmann::json::parse(lines[i]);
    j["duration_ms"] = j["verify_ms"];  // the log's name for the proto's duration_ms
    absl::StatusOr<Verdict> back = VerdictFromJsonMembers(j);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(*back, written[i]);
  }
}

struct FixedClock : Clock {
  absl::Time Wall() const override { return absl::FromUnixSeconds(1'800'000'000); }
  absl::Duration Monotonic() const override { return absl::Seconds(1'000); }
};

agent::VerdictCacheOptions CacheOptions(const Clock& clock, std::string path) {
  agent::VerdictCacheOptions o;
  o.allow_ttl = absl::Seconds(100);
  o.persist_path = std::move(path);
  o.clock = &clock;
  return o;
}

Reference Pinned(const Verdict& v) {
  absl::StatusOr<Reference> r =
      Reference::Parse(StrCat("registry.example.com/team/app@", v.manifest_digest->str()));
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

// A line of the format before the codec (the only one there was: it has no version field)
// loads, and the codec writes the same bytes for the same entry. Since issue 17 a line also
// has the signer members; a line from before them loads as "no signer recorded".
TEST(VerdictCodecFilesTest, CacheLineKeepsItsBytesAndOldFilesLoad) {
  TempDir dir;
  FixedClock clock;
  Verdict v = Full(Decision::kAllow, Reason::kVerified, Mode::kWarn);
  v.duration = absl::ZeroDuration();  // never persisted
  std::string digest = v.manifest_digest->str();
  auto line = [&](const std::string& signer_members) {
    return StrCat("{\"detail\":", nlohmann::json(v.detail).dump(), ",\"digest\":\"", digest,
                  "\",\"expires\":1800000100,\"key\":\"registry.example.com/team/app@", digest,
                  "|sha256:policy\",\"key_id\":\"sha256:key\",\"mode\":\"warn\","
                  "\"policy_version\":\"sha256:policy\",\"reason\":\"VERIFIED\","
                  "\"reference\":\"registry.example.com/team/app:1.0\",",
                  signer_members, "\"scope\":\"registry.example.com/team\"", "}\n");
  };
  std::string old_line = line("");
  std::string new_line = line(
      StrCat("\"rekor_log_id\":\"", v.rekor_log_id, "\",\"rekor_log_index\":123456789012,"));
  new_line.insert(new_line.size() - 2,
                  StrCat(",\"signer_issuer\":\"", v.signer_issuer, "\",\"signer_kind\":\"",
                         v.signer_kind, "\",\"signer_subject\":\"", v.signer_subject, "\""));
  {
    agent::VerdictCache cache(CacheOptions(clock, dir / "new.jsonl"));
    ASSERT_TRUE(cache.Load().ok());
    cache.Put(Pinned(v), v);
  }
  EXPECT_EQ(ReadAll(dir / "new.jsonl"), new_line);

  WriteAll(dir / "old.jsonl", old_line);
  agent::VerdictCache old(CacheOptions(clock, dir / "old.jsonl"));
  ASSERT_TRUE(old.Load().ok());
  EXPECT_EQ(old.skipped_lines(), 0u);
  std::optional<Verdict> found = old.Find(Pinned(v), "sha256:policy");
  ASSERT_TRUE(found.has_value());
  Verdict before = v;  // as the old agent knew it
  before.signer_kind.clear();
  before.signer_issuer.clear();
  before.signer_subject.clear();
  before.rekor_log_index = -1;
  before.rekor_log_id.clear();
  ExpectSame(*found, before);
}

TEST(VerdictCodecFilesTest, EveryReasonAndModeRoundTripsThroughTheCacheFile) {
  TempDir dir;
  FixedClock clock;
  std::vector<Verdict> put;
  {
    agent::VerdictCache cache(CacheOptions(clock, dir / "verdicts.jsonl"));
    ASSERT_TRUE(cache.Load().ok());
    for (Reason r : AllReasons()) {
      for (Mode m : AllModes()) {
        put.push_back(Full(Decision::kAllow, r, m));
        put.back().duration = absl::ZeroDuration();  // never persisted
        cache.Put(Pinned(put.back()), put.back());
      }
    }
  }
  agent::VerdictCache reloaded(CacheOptions(clock, dir / "verdicts.jsonl"));
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.skipped_lines(), 0u);
  for (const Verdict& v : put) {
    SCOPED_TRACE(StrCat(ReasonName(v.reason), " ", ModeName(v.mode)));
    std::optional<Verdict> found = reloaded.Find(Pinned(v), "sha256:policy");
    // Fail-open ALLOWs live in memory only (verdict_cache.h); a verdict without a policy is
    // never an ALLOW. Everything else comes back whole.
    if (v.reason == Reason::kRegistryError || v.reason == Reason::kLimitExceeded ||
        v.reason == Reason::kPolicyUnavailable) {
      EXPECT_FALSE(found.has_value());
      continue;
    }
    ASSERT_TRUE(found.has_value());
    ExpectSame(*found, v);
  }
}

}  // namespace
}  // namespace layerseal
