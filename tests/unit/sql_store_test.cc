// The pure functions both SQL event stores share (controller/sql_store.h): the row an event
// becomes, the WHERE clause a filter becomes, page tokens, page-size clamping, the merge of
// per-(image, node) counts, and the body checks. No database: event_store_test runs the
// stores themselves on SQLite and PostgreSQL.
#include "controller/sql_store.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "controller/event_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace layerseal::controller::sql {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

v1::Event SampleEvent() {
  v1::Event e;
  e.set_node("node-a");
  e.set_spool_incarnation("0123456789abcdef0123456789abcdef");
  e.set_seq(7);
  e.set_time_unix_micros(1'700'000'000'000'000);
  e.set_kind(v1::Event::VERDICT);
  e.set_gate("PullImage");
  e.set_image("registry.example/team/app:1.0");
  e.set_pod_namespace("team");
  e.set_pod_name("app-1");
  v1::Verdict* v = e.mutable_verdict();
  v->set_reference("registry.example/team/app:1.0");
  v->set_digest("sha256:aaaa");
  v->set_verdict("DENY");
  v->set_reason("BAD_SIGNATURE");
  v->set_mode("enforce");
  v->set_detail("signature does not verify");
  return e;
}

// --- Placeholder and WhereClause -------------------------------------------------------

TEST(SqlPlaceholderTest, EachDialectsSpelling) {
  EXPECT_EQ(Placeholder(Dialect::kSqlite, 1), "?1");
  EXPECT_EQ(Placeholder(Dialect::kSqlite, 12), "?12");
  EXPECT_EQ(Placeholder(Dialect::kPostgres, 1), "$1");
  EXPECT_EQ(Placeholder(Dialect::kPostgres, 12), "$12");
}

TEST(SqlWhereClauseTest, EmptyFilterIsNoConditionAndNoParameter) {
  for (Dialect d : {Dialect::kSqlite, Dialect::kPostgres}) {
    std::vector<Param> params = {Param(int64_t{5})};
    EXPECT_EQ(WhereClause(v1::EventFilter(), d, params), "");
    ASSERT_EQ(params.size(), 1u);  // nothing appended, the caller's kept
    EXPECT_EQ(params[0].i, 5);
  }
}

TEST(SqlWhereClauseTest, EmptyStringsAreNotConditions) {
  v1::EventFilter f;
  f.set_node("");
  f.set_image("");
  f.set_verdict("");
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kPostgres, params), "");
  EXPECT_THAT(params, IsEmpty());
}

TEST(SqlWhereClauseTest, SinceIsInclusiveUntilExclusive) {
  v1::EventFilter f;
  f.set_since_unix_micros(100);
  f.set_until_unix_micros(200);
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kPostgres, params), "time_us >= $1 AND time_us < $2");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_TRUE(params[0].is_int);
  EXPECT_EQ(params[0].i, 100);
  EXPECT_TRUE(params[1].is_int);
  EXPECT_EQ(params[1].i, 200);
}

// SQLite has no index on time_us: the unary + keeps its planner off it (sqlite_store.cc).
TEST(SqlWhereClauseTest, SqliteTimeConditionsAreUnindexed) {
  v1::EventFilter f;
  f.set_since_unix_micros(100);
  f.set_until_unix_micros(200);
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kSqlite, params), "+time_us >= ?1 AND +time_us < ?2");
}

// Presence, not value: a bound at the epoch (or before it) is still a bound.
TEST(SqlWhereClauseTest, BoundAtZeroOrNegativeIsABound) {
  v1::EventFilter since_zero;
  since_zero.set_since_unix_micros(0);
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(since_zero, Dialect::kPostgres, params), "time_us >= $1");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].i, 0);

  v1::EventFilter until_zero;
  until_zero.set_until_unix_micros(0);
  params.clear();
  EXPECT_EQ(WhereClause(until_zero, Dialect::kPostgres, params), "time_us < $1");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].i, 0);

  v1::EventFilter negative;
  negative.set_since_unix_micros(-5);
  negative.set_until_unix_micros(-1);
  params.clear();
  EXPECT_EQ(WhereClause(negative, Dialect::kPostgres, params), "time_us >= $1 AND time_us < $2");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].i, -5);
  EXPECT_EQ(params[1].i, -1);
}

TEST(SqlWhereClauseTest, OnlyUntil) {
  v1::EventFilter f;
  f.set_until_unix_micros(INT64_MAX);
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kSqlite, params), "+time_us < ?1");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].i, INT64_MAX);
}

// The caller's own parameters (e.g. an id bound) come first; the filter's are numbered on.
TEST(SqlWhereClauseTest, NumbersContinueAfterTheCallersParameters) {
  v1::EventFilter f;
  f.set_node("node-a");
  f.set_since_unix_micros(1);
  std::vector<Param> params = {Param(int64_t{99}), Param("x")};
  EXPECT_EQ(WhereClause(f, Dialect::kSqlite, params), "+time_us >= ?3 AND node = ?4");
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[2].i, 1);
  EXPECT_EQ(params[3].s, "node-a");
}

// The image filter matches the CRI request's name or the verdict's reference: one value,
// one placeholder used twice.
TEST(SqlWhereClauseTest, ImageMatchesImageOrReferenceWithOneParameter) {
  v1::EventFilter f;
  f.set_image("registry.example/app:1");
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kPostgres, params), "(image = $1 OR reference = $1)");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].s, "registry.example/app:1");
  EXPECT_FALSE(params[0].is_int);
  EXPECT_FALSE(params[0].is_blob);
}

TEST(SqlWhereClauseTest, EveryFieldInOrder) {
  v1::EventFilter f;
  f.set_since_unix_micros(10);
  f.set_until_unix_micros(20);
  f.set_node("n");
  f.set_namespace_("ns");
  f.set_pod("p");
  f.set_image("i");
  f.set_digest("d");
  f.set_verdict("DENY");
  f.set_reason("r");
  f.set_mode("warn");
  f.set_signer("s");
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kPostgres, params),
            "time_us >= $1 AND time_us < $2 AND node = $3 AND namespace = $4 AND pod = $5 AND "
            "(image = $6 OR reference = $6) AND digest = $7 AND verdict = $8 AND reason = $9 "
            "AND mode = $10 AND (key_id = $11 OR signer_issuer = $11 OR signer_subject = $11)");
  std::vector<std::string> texts;
  for (size_t i = 2; i < params.size(); ++i) texts.push_back(params[i].s);
  EXPECT_THAT(texts, ElementsAre("n", "ns", "p", "i", "d", "DENY", "r", "warn", "s"));
}

// Issue 17: the signer filter matches the key id, the keyless issuer or the keyless subject:
// one value, one placeholder used three times; exact (bound, never LIKE).
TEST(SqlWhereClauseTest, SignerMatchesKeyIdIssuerOrSubjectWithOneParameter) {
  v1::EventFilter f;
  f.set_signer("https://token.actions.githubusercontent.com");
  std::vector<Param> params;
  EXPECT_EQ(WhereClause(f, Dialect::kSqlite, params),
            "(key_id = ?1 OR signer_issuer = ?1 OR signer_subject = ?1)");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].s, "https://token.actions.githubusercontent.com");
  EXPECT_FALSE(params[0].is_blob);
}

TEST(SqlRowTest, SignerColumnsComeFromTheVerdict) {
  v1::Event e = SampleEvent();
  v1::Verdict* v = e.mutable_verdict();
  v->set_key_id("sha256:cert");
  v->set_signer_kind("cosign-keyless");
  v->set_signer_issuer("https://accounts.example");
  v->set_signer_subject("ci@team.example");
  v->set_rekor_log_index(12);
  EventRow row = ToRow(e, 1);
  EXPECT_EQ(row.key_id, "sha256:cert");
  EXPECT_EQ(row.signer_issuer, "https://accounts.example");
  EXPECT_EQ(row.signer_subject, "ci@team.example");
  std::vector<Param> params = RowParams(row);
  ASSERT_EQ(params.size(), 18u);
  EXPECT_EQ(params[15].s, "sha256:cert");
  EXPECT_EQ(params[16].s, "https://accounts.example");
  EXPECT_EQ(params[17].s, "ci@team.example");
  // What the migration reads back from a stored body (SignerColumnsOf).
  SignerColumns c = SignerColumnsOf(row.body.data(), row.body.size());
  EXPECT_EQ(c.key_id, "sha256:cert");
  EXPECT_EQ(c.signer_issuer, "https://accounts.example");
  EXPECT_EQ(c.signer_subject, "ci@team.example");
  EXPECT_FALSE(c.empty());
  const std::string garbage = "\xff\xff\xff";
  EXPECT_TRUE(SignerColumnsOf(garbage.data(), garbage.size()).empty());
  std::string plain = SampleEvent().SerializeAsString();  // no key id, no signer
  EXPECT_TRUE(SignerColumnsOf(plain.data(), plain.size()).empty());
}

// Values are bound, never written into the SQL: quotes, LIKE wildcards (% and _: matching is
// exact, no LIKE anywhere) and comment markers reach the statement only as parameters.
TEST(SqlWhereClauseTest, ValuesNeverAppearInTheSql) {
  const std::string hostile = "x' OR '1'='1' -- %_\\";
  v1::EventFilter f;
  f.set_node(hostile);
  f.set_image(hostile);
  f.set_reason("%");
  f.set_digest("_");
  for (Dialect d : {Dialect::kSqlite, Dialect::kPostgres}) {
    std::vector<Param> params;
    std::string where = WhereClause(f, d, params);
    EXPECT_THAT(where, AllOf(Not(HasSubstr("'")), Not(HasSubstr("%")), Not(HasSubstr("--")),
                             Not(HasSubstr("\\")), Not(HasSubstr("LIKE"))))
        << where;
    ASSERT_EQ(params.size(), 4u);
    EXPECT_EQ(params[0].s, hostile);  // unchanged: no escaping needed, none done
    EXPECT_EQ(params[1].s, hostile);
    EXPECT_EQ(params[2].s, "_");
    EXPECT_EQ(params[3].s, "%");
  }
}

// --- ToRow and RowParams ---------------------------------------------------------------

TEST(SqlRowTest, ToRowCopiesTheFilterableColumnsAndStampsTheBody) {
  v1::Event e = SampleEvent();
  EventRow row = ToRow(e, 42);
  EXPECT_EQ(row.node, "node-a");
  EXPECT_EQ(row.incarnation, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(row.seq, 7);
  EXPECT_EQ(row.time_us, 1'700'000'000'000'000);
  EXPECT_EQ(row.received_us, 42);
  EXPECT_EQ(row.kind, v1::Event::VERDICT);
  EXPECT_EQ(row.ns, "team");
  EXPECT_EQ(row.pod, "app-1");
  EXPECT_EQ(row.image, "registry.example/team/app:1.0");
  EXPECT_EQ(row.reference, "registry.example/team/app:1.0");
  EXPECT_EQ(row.digest, "sha256:aaaa");
  EXPECT_EQ(row.verdict, "DENY");
  EXPECT_EQ(row.reason, "BAD_SIGNATURE");
  EXPECT_EQ(row.mode, "enforce");
  v1::Event body;
  ASSERT_TRUE(body.ParseFromString(row.body));
  EXPECT_EQ(body.received_unix_micros(), 42);
  EXPECT_EQ(body.verdict().detail(), "signature does not verify");  // the whole event
  EXPECT_EQ(e.received_unix_micros(), 0);                           // the input untouched
}

// seq is a uint64 on the wire and a signed integer in SQL: bit-cast, so the top half of the
// range is stored (as negatives) rather than refused or clamped.
TEST(SqlRowTest, SeqAboveInt64MaxIsBitCast) {
  v1::Event e = SampleEvent();
  e.set_seq(UINT64_MAX);
  EXPECT_EQ(ToRow(e, 0).seq, -1);
  e.set_seq(uint64_t{1} << 63);
  EXPECT_EQ(ToRow(e, 0).seq, INT64_MIN);
}

TEST(SqlRowTest, RowParamsMatchTheColumnList) {
  EventRow row = ToRow(SampleEvent(), 42);
  std::vector<Param> params = RowParams(row);
  ASSERT_EQ(params.size(), static_cast<size_t>(kEventColumnCount));
  // kEventColumns names exactly kEventColumnCount columns.
  std::string columns = kEventColumns;
  EXPECT_EQ(static_cast<int>(std::count(columns.begin(), columns.end(), ',')) + 1,
            kEventColumnCount);
  // In kEventColumns' order: node, seq, time_us, received_us, kind, namespace, pod, image,
  // reference, digest, verdict, reason, mode, body, incarnation, key_id, signer_issuer,
  // signer_subject.
  EXPECT_EQ(params[0].s, "node-a");
  EXPECT_TRUE(params[1].is_int);
  EXPECT_EQ(params[1].i, 7);
  EXPECT_EQ(params[2].i, 1'700'000'000'000'000);
  EXPECT_EQ(params[3].i, 42);
  EXPECT_EQ(params[4].i, v1::Event::VERDICT);
  EXPECT_EQ(params[5].s, "team");
  EXPECT_EQ(params[6].s, "app-1");
  EXPECT_EQ(params[9].s, "sha256:aaaa");
  EXPECT_EQ(params[10].s, "DENY");
  EXPECT_EQ(params[12].s, "enforce");
  EXPECT_TRUE(params[13].is_blob);  // bytes, not text
  EXPECT_EQ(params[13].s, row.body);
  EXPECT_EQ(params[14].s, "0123456789abcdef0123456789abcdef");
  for (int i = 0; i < kEventColumnCount; ++i) {
    if (i == 13) continue;
    EXPECT_FALSE(params[i].is_blob) << "column " << i;
  }
}

// --- Page tokens -----------------------------------------------------------------------

v1::EventFilter DenyFilter() {
  v1::EventFilter f;
  f.set_verdict("DENY");
  return f;
}

constexpr char kKey[] = "store-key-1";
constexpr char kNotOurs[] = "not a page token of this controller";
constexpr char kOtherStoreOrFilter[] = "made by another store or for another filter";

TEST(SqlPageTokenTest, RoundTrips) {
  for (int64_t id : {int64_t{1}, int64_t{12345}, int64_t{1} << 40, INT64_MAX}) {
    std::string token = MakePageToken(kKey, DenyFilter(), id);
    absl::StatusOr<int64_t> back = ParsePageToken(kKey, DenyFilter(), token);
    ASSERT_TRUE(back.ok()) << id << ": " << back.status();
    EXPECT_EQ(*back, id);
  }
}

TEST(SqlPageTokenTest, ShapeIsVersionHexIdHexMac) {
  std::string token = MakePageToken(kKey, DenyFilter(), 255);
  ASSERT_EQ(token.size(), 34u);
  EXPECT_EQ(token.substr(0, 18), "c100000000000000ff");
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef", 2), std::string::npos) << token;
}

void ExpectRefused(const std::string& token, const std::string& why,
                   const v1::EventFilter& filter = DenyFilter(), const std::string& key = kKey) {
  absl::StatusOr<int64_t> r = ParsePageToken(key, filter, token);
  ASSERT_FALSE(r.ok()) << "token \"" << token << "\" accepted as " << *r;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(why)) << token;
}

TEST(SqlPageTokenTest, MalformedTokensAreRefused) {
  const std::string good = MakePageToken(kKey, DenyFilter(), 255);
  ExpectRefused("", kNotOurs);
  ExpectRefused("c1", kNotOurs);
  ExpectRefused(good.substr(0, good.size() - 1), kNotOurs);  // one character short
  ExpectRefused(good + "0", kNotOurs);                       // one too many
  ExpectRefused("c2" + good.substr(2), kNotOurs);            // another version
  ExpectRefused("C1" + good.substr(2), kNotOurs);
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ExpectRefused("c1" + upper.substr(2), kNotOurs);  // hex is lower case only
  std::string not_hex = good;
  not_hex[5] = 'g';
  ExpectRefused(not_hex, kNotOurs);
  std::string bad_mac_digit = good;
  bad_mac_digit[30] = 'x';
  ExpectRefused(bad_mac_digit, kNotOurs);
  std::string with_nul = good;
  with_nul[10] = '\0';
  ExpectRefused(with_nul, kNotOurs);
  ExpectRefused(std::string(34, ' '), kNotOurs);
}

// Ids are positive int64: 0 and the top half of uint64 are refused before the MAC is looked
// at (MakePageToken would make a well-formed token of either; the store never asks it to).
TEST(SqlPageTokenTest, IdOutOfRangeIsRefused) {
  ExpectRefused(MakePageToken(kKey, DenyFilter(), 0), kNotOurs);
  ExpectRefused(MakePageToken(kKey, DenyFilter(), -1), kNotOurs);  // ffff...: > INT64_MAX
  ExpectRefused(MakePageToken(kKey, DenyFilter(), INT64_MIN), kNotOurs);
}

TEST(SqlPageTokenTest, TamperedIdOrMacIsRefused) {
  const std::string good = MakePageToken(kKey, DenyFilter(), 255);
  std::string other_id = good;
  other_id[17] = 'e';  // id 0xfe with 0xff's MAC
  ExpectRefused(other_id, kOtherStoreOrFilter);
  std::string other_mac = good;
  other_mac[33] = other_mac[33] == '0' ? '1' : '0';
  ExpectRefused(other_mac, kOtherStoreOrFilter);
}

TEST(SqlPageTokenTest, AnotherStoresTokenIsRefused) {
  ExpectRefused(MakePageToken("store-key-2", DenyFilter(), 255), kOtherStoreOrFilter);
  ExpectRefused(MakePageToken("", DenyFilter(), 255), kOtherStoreOrFilter);
}

TEST(SqlPageTokenTest, AnotherFiltersTokenIsRefused) {
  v1::EventFilter allow;
  allow.set_verdict("ALLOW");
  ExpectRefused(MakePageToken(kKey, allow, 255), kOtherStoreOrFilter);
  ExpectRefused(MakePageToken(kKey, v1::EventFilter(), 255), kOtherStoreOrFilter);
  // A bound at the epoch differs from no bound (field presence), and so do their tokens.
  v1::EventFilter since_zero = DenyFilter();
  since_zero.set_since_unix_micros(0);
  ExpectRefused(MakePageToken(kKey, since_zero, 255), kOtherStoreOrFilter);
  ExpectRefused(MakePageToken(kKey, DenyFilter(), 255), kOtherStoreOrFilter, since_zero);
}

// --- ClampPageSize ---------------------------------------------------------------------

TEST(SqlClampPageSizeTest, ZeroOrNegativeIsTheDefaultAndLargeIsCapped) {
  EXPECT_EQ(ClampPageSize(0), kDefaultPageSize);
  EXPECT_EQ(ClampPageSize(-1), kDefaultPageSize);
  EXPECT_EQ(ClampPageSize(INT_MIN), kDefaultPageSize);
  EXPECT_EQ(ClampPageSize(1), 1);
  EXPECT_EQ(ClampPageSize(kMaxPageSize - 1), kMaxPageSize - 1);
  EXPECT_EQ(ClampPageSize(kMaxPageSize), kMaxPageSize);
  EXPECT_EQ(ClampPageSize(kMaxPageSize + 1), kMaxPageSize);
  EXPECT_EQ(ClampPageSize(INT_MAX), kMaxPageSize);
}

// --- MergeImageCounts ------------------------------------------------------------------

ImageNodeCounts Counts(std::string image, std::string node, int64_t allowed, int64_t denied,
                       int64_t last_seen_us, std::string digest = "") {
  ImageNodeCounts c;
  c.image = std::move(image);
  c.node = std::move(node);
  c.allowed = allowed;
  c.denied = denied;
  c.last_seen_us = last_seen_us;
  c.last_digest = std::move(digest);
  return c;
}

TEST(SqlMergeImageCountsTest, NoRowsIsNoImages) {
  EXPECT_THAT(MergeImageCounts({}, 10), IsEmpty());
}

TEST(SqlMergeImageCountsTest, SumsAcrossNodesAndTakesTheLastSeenDigest) {
  std::vector<v1::ImageSummary> out =
      MergeImageCounts({Counts("app", "node-b", 2, 1, 300, "sha256:new"),
                        Counts("app", "node-a", 5, 0, 100, "sha256:old"),
                        Counts("app", "node-b", 1, 1, 200, "sha256:mid")},
                       10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].image(), "app");
  EXPECT_EQ(out[0].allowed(), 8u);
  EXPECT_EQ(out[0].denied(), 2u);
  EXPECT_EQ(out[0].last_seen_unix_micros(), 300);
  EXPECT_EQ(out[0].last_digest(), "sha256:new");
  EXPECT_THAT(out[0].nodes(), ElementsAre("node-a", "node-b"));  // sorted, each once
}

// Times before the epoch are times: the first row sets the last-seen even when negative.
TEST(SqlMergeImageCountsTest, NegativeTimesAreKept) {
  std::vector<v1::ImageSummary> out =
      MergeImageCounts({Counts("old", "n", 1, 0, -50, "sha256:x")}, 10);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].last_seen_unix_micros(), -50);
  EXPECT_EQ(out[0].last_digest(), "sha256:x");
}

TEST(SqlMergeImageCountsTest, MostRecentFirstThenByName) {
  std::vector<v1::ImageSummary> out =
      MergeImageCounts({Counts("b", "n", 1, 0, 100), Counts("c", "n", 1, 0, 300),
                        Counts("a", "n", 1, 0, 100), Counts("d", "n", 1, 0, 200)},
                       10);
  std::vector<std::string> names;
  for (const auto& s : out) names.push_back(s.image());
  EXPECT_THAT(names, ElementsAre("c", "d", "a", "b"));
}

TEST(SqlMergeImageCountsTest, LimitKeepsTheMostRecent) {
  std::vector<ImageNodeCounts> rows = {Counts("a", "n", 1, 0, 100), Counts("b", "n", 1, 0, 300),
                                       Counts("c", "n", 1, 0, 200)};
  std::vector<v1::ImageSummary> two = MergeImageCounts(rows, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].image(), "b");
  EXPECT_EQ(two[1].image(), "c");
  EXPECT_THAT(MergeImageCounts(rows, 0), IsEmpty());
  EXPECT_EQ(MergeImageCounts(rows, 3).size(), 3u);
  EXPECT_EQ(MergeImageCounts(rows, 1000).size(), 3u);
  EXPECT_EQ(MergeImageCounts(rows, -1).size(), 3u);  // negative: no limit
}

// --- SameContent, IdentityName, ParseBody ----------------------------------------------

TEST(SqlSameContentTest, OnlyReceivedTimeMayDiffer) {
  v1::Event e = SampleEvent();
  std::string stored = ToRow(e, 42).body;
  EXPECT_TRUE(SameContent(stored, e));
  v1::Event resent = e;
  resent.set_received_unix_micros(99);
  EXPECT_TRUE(SameContent(stored, resent));
  v1::Event other = e;
  other.mutable_verdict()->set_verdict("ALLOW");
  EXPECT_FALSE(SameContent(stored, other));
  other = e;
  other.set_gate_ms(1.5);  // not a filterable column: still content
  EXPECT_FALSE(SameContent(stored, other));
}

TEST(SqlSameContentTest, UnparsableStoredBodyIsAConflict) {
  EXPECT_FALSE(SameContent(std::string("\xff\xff\xff", 3), SampleEvent()));
}

TEST(SqlIdentityNameTest, NodeIncarnationSeq) {
  v1::Event e = SampleEvent();
  EXPECT_EQ(IdentityName(e), "node-a/0123456789abcdef0123456789abcdef/7");
  e.clear_spool_incarnation();
  EXPECT_EQ(IdentityName(e), "node-a/-/7");  // the legacy incarnation
  e.set_seq(UINT64_MAX);
  EXPECT_EQ(IdentityName(e), "node-a/-/18446744073709551615");  // unsigned, as sent
}

TEST(SqlParseBodyTest, BodyBackIntoAnEvent) {
  std::string body = ToRow(SampleEvent(), 42).body;
  absl::StatusOr<v1::Event> e = ParseBody(body.data(), body.size(), 3);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->node(), "node-a");
  EXPECT_EQ(e->received_unix_micros(), 42);
}

TEST(SqlParseBodyTest, GarbageIsDataLossNamingTheRow) {
  const std::string garbage("\xff\xff\xff", 3);
  absl::StatusOr<v1::Event> e = ParseBody(garbage.data(), garbage.size(), 314);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("events row 314"));
}

}  // namespace
}  // namespace layerseal::controller::sql
