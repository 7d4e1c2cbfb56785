#include "controller/sql_store.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "controller/event_store.h"
#include "base/str_cat.h"

namespace layerseal::controller::sql {
namespace {

constexpr char kTokenPrefix[] = "c1";
constexpr size_t kTokenSize = 2 + 16 + 16;

// FNV-1a, 64 bits. The token MAC only has to tell our tokens from garbage, other stores'
// and other filters' tokens (a client can read any page anyway): not a cryptographic MAC.
uint64_t Fnv1a(const std::string& bytes, uint64_t hash = 1469598103934665603ULL) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ParseHex16(const std::string& s, uint64_t& out) {
  if (s.size() != 16) return false;
  out = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    out = out << 4 | static_cast<uint64_t>(d);
  }
  return true;
}

uint64_t TokenMac(const std::string& store_key, const v1::EventFilter& filter, int64_t id) {
  std::string filter_bytes;
  filter.SerializeToString(&filter_bytes);
  uint64_t h = Fnv1a(store_key);
  h = Fnv1a(filter_bytes, h);
  return Fnv1a(Hex16(static_cast<uint64_t>(id)), h);
}

void AddEquals(const char* column, const std::string& value, Dialect dialect,
               std::vector<Param>& params, std::vector<std::string>& conds) {
  if (value.empty()) return;
  params.push_back(value);
  conds.push_back(StrCat(column, " = ", Placeholder(dialect, static_cast<int>(params.size()))));
}

}  // namespace

EventRow ToRow(const v1::Event& event, int64_t received_us) {
  v1::Event stored = event;
  stored.set_received_unix_micros(received_us);
  EventRow row;
  row.node = stored.node();
  row.incarnation = stored.spool_incarnation();
  row.seq = static_cast<int64_t>(stored.seq());
  row.time_us = stored.time_unix_micros();
  row.received_us = received_us;
  row.kind = stored.kind();
  row.ns = stored.pod_namespace();
  row.pod = stored.pod_name();
  row.image = stored.image();
  row.reference = stored.verdict().reference();
  row.digest = stored.verdict().digest();
  row.verdict = stored.verdict().verdict();
  row.reason = stored.verdict().reason();
  row.mode = stored.verdict().mode();
  row.key_id = stored.verdict().key_id();
  row.signer_issuer = stored.verdict().signer_issuer();
  row.signer_subject = stored.verdict().signer_subject();
  stored.SerializeToString(&row.body);
  return row;
}

std::vector<Param> RowParams(const EventRow& row) {
  return {row.node,    row.seq,    row.time_us, row.received_us,      row.kind,
          row.ns,      row.pod,    row.image,   row.reference,        row.digest,
          row.verdict, row.reason, row.mode,    Param::Blob(row.body), row.incarnation,
          row.key_id,  row.signer_issuer,       row.signer_subject};
}

std::string Placeholder(Dialect dialect, int n) {
  return dialect == Dialect::kSqlite ? StrCat("?", n) : StrCat("$", n);
}

std::string WhereClause(const v1::EventFilter& filter, Dialect dialect,
                        std::vector<Param>& params) {
  std::vector<std::string> conds;
  auto next = [&] { return Placeholder(dialect, static_cast<int>(params.size())); };
  const char* time = dialect == Dialect::kSqlite ? "+time_us" : "time_us";
  if (filter.has_since_unix_micros()) {  // presence: a bound at 0 is a bound
    params.push_back(filter.since_unix_micros());
    conds.push_back(StrCat(time, " >= ", next()));
  }
  if (filter.has_until_unix_micros()) {
    params.push_back(filter.until_unix_micros());
    conds.push_back(StrCat(time, " < ", next()));
  }
  AddEquals("node", filter.node(), dialect, params, conds);
  AddEquals("namespace", filter.namespace_(), dialect, params, conds);
  AddEquals("pod", filter.pod(), dialect, params, conds);
  if (!filter.image().empty()) {
    params.push_back(filter.image());
    std::string p = next();
    conds.push_back(StrCat("(image = ", p, " OR reference = ", p, ")"));
  }
  AddEquals("digest", filter.digest(), dialect, params, conds);
  AddEquals("verdict", filter.verdict(), dialect, params, conds);
  AddEquals("reason", filter.reason(), dialect, params, conds);
  AddEquals("mode", filter.mode(), dialect, params, conds);
  if (!filter.signer().empty()) {
    params.push_back(filter.signer());
    std::string p = next();
    conds.push_back(
        StrCat("(key_id = ", p, " OR signer_issuer = ", p, " OR signer_subject = ", p, ")"));
  }
  std::string out;
  for (const std::string& c : conds) out += out.empty() ? c : StrCat(" AND ", c);
  return out;
}

std::string MakePageToken(const std::string& store_key, const v1::EventFilter& filter,
                          int64_t before_id) {
  return StrCat(kTokenPrefix, Hex16(static_cast<uint64_t>(before_id)),
                Hex16(TokenMac(store_key, filter, before_id)));
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& store_key, const v1::EventFilter& filter,
                                       const std::string& token) {
  uint64_t id = 0, mac = 0;
  if (token.size() != kTokenSize || token.compare(0, 2, kTokenPrefix) != 0 ||
      !ParseHex16(token.substr(2, 16), id) || !ParseHex16(token.substr(18, 16), mac) || id == 0 ||
      id > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError("page_token: not a page token of this controller");
  }
  if (mac != TokenMac(store_key, filter, static_cast<int64_t>(id))) {
    return absl::InvalidArgumentError(
        "page_token: made by another store or for another filter (start again without it)");
  }
  return static_cast<int64_t>(id);
}

int ClampPageSize(int page_size) {
  if (page_size <= 0) return kDefaultPageSize;
  return std::min(page_size, kMaxPageSize);
}

std::vector<v1::ImageSummary> MergeImageCounts(const std::vector<ImageNodeCounts>& rows,
                                               int limit) {
  struct Acc {
    int64_t allowed = 0, denied = 0, last_seen_us = INT64_MIN;
    std::string last_digest;
    std::set<std::string> nodes;
  };
  std::map<std::string, Acc> by_image;
  for (const ImageNodeCounts& r : rows) {
    Acc& a = by_image[r.image];
    a.allowed += r.allowed;
    a.denied += r.denied;
    if (r.last_seen_us > a.last_seen_us) {
      a.last_seen_us = r.last_seen_us;
      a.last_digest = r.last_digest;
    }
    a.nodes.insert(r.node);
  }
  std::vector<v1::ImageSummary> out;
  out.reserve(by_image.size());
  for (auto& [image, a] : by_image) {
    v1::ImageSummary s;
    s.set_image(image);
    s.set_allowed(static_cast<uint64_t>(a.allowed));
    s.set_denied(static_cast<uint64_t>(a.denied));
    s.set_last_seen_unix_micros(a.last_seen_us);
    s.set_last_digest(a.last_digest);
    for (const std::string& n : a.nodes) s.add_nodes(n);
    out.push_back(std::move(s));
  }
  // Most recently seen first; the image name breaks ties so the order is stable.
  std::sort(out.begin(), out.end(), [](const v1::ImageSummary& x, const v1::ImageSummary& y) {
    if (x.last_seen_unix_micros() != y.last_seen_unix_micros()) {
      return x.last_seen_unix_micros() > y.last_seen_unix_micros();
    }
    return x.image() < y.image();
  });
  if (limit >= 0 && out.size() > static_cast<size_t>(limit)) out.resize(static_cast<size_t>(limit));
  return out;
}

bool SameContent(const std::string& stored_body, const v1::Event& incoming) {
  v1::Event stored;
  if (!stored.ParseFromString(stored_body)) return false;
  v1::Event sent = incoming;
  stored.clear_received_unix_micros();
  sent.clear_received_unix_micros();
  return google::protobuf::util::MessageDifferencer::Equals(stored, sent);
}

std::string IdentityName(const v1::Event& event) {
  const std::string& inc = event.spool_incarnation();
  return StrCat(event.node(), "/", inc.empty() ? "-" : inc, "/", event.seq());
}

SignerColumns SignerColumnsOf(const void* body, size_t size) {
  v1::Event event;
  if (!event.ParseFromArray(body, static_cast<int>(size))) return {};
  return {event.verdict().key_id(), event.verdict().signer_issuer(),
          event.verdict().signer_subject()};
}

absl::StatusOr<v1::Event> ParseBody(const void* data, size_t size, int64_t id) {
  v1::Event event;
  if (!event.ParseFromArray(data, static_cast<int>(size))) {
    return absl::DataLossError(StrCat("events row ", id, ": body does not parse as an Event"));
  }
  return event;
}

std::vector<Statement> PutPackagesStatements(Dialect dialect, const ImagePackagesRecord& record,
                                             int64_t received_us) {
  auto p = [&](int n) { return Placeholder(dialect, n); };
  const char* greatest = dialect == Dialect::kSqlite ? "MAX" : "GREATEST";
  std::vector<Statement> out;
  out.push_back(
      {StrCat("INSERT INTO image_packages (digest, attachment, packages, omitted_bytes, node,"
              " updated_us, last_seen_us) VALUES (", p(1), ", ", p(2), ", ", p(3), ", ", p(4), ", ",
              p(5), ", ", p(6), ", ", p(6), ") ON CONFLICT (digest) DO UPDATE SET last_seen_us = ",
              greatest, "(image_packages.last_seen_us, excluded.last_seen_us)"),
       {record.digest, Param::Blob(record.attachment),
        record.attachment.empty() ? 0 : record.packages,
        record.attachment.empty() ? record.omitted_bytes : 0, record.node, received_us}});
  if (!record.attachment.empty()) {
    out.push_back({StrCat("UPDATE image_packages SET attachment = ", p(2), ", packages = ", p(3),
                          ", omitted_bytes = 0, node = ", p(4), ", updated_us = ", p(5),
                          " WHERE digest = ", p(1), " AND attachment <> ", p(2)),
                   {record.digest, Param::Blob(record.attachment), record.packages, record.node,
                    received_us}});
  } else {
    out.push_back({StrCat("UPDATE image_packages SET omitted_bytes = ", p(2), ", node = ", p(3),
                          ", updated_us = ", p(4), " WHERE digest = ", p(1),
                          " AND length(attachment) = 0 AND omitted_bytes <> ", p(2)),
                   {record.digest, record.omitted_bytes, record.node, received_us}});
  }
  return out;
}

std::string GetPackagesSql(Dialect dialect) {
  return StrCat(kSelectPackages, " WHERE digest = ", Placeholder(dialect, 1));
}

std::string ListPackagesSql(Dialect dialect) {
  return StrCat("SELECT digest, 0, packages, omitted_bytes, node, updated_us, last_seen_us"
                " FROM image_packages ORDER BY last_seen_us DESC, digest LIMIT ",
                Placeholder(dialect, 1));
}

std::string PackageCountSql(Dialect dialect) {
  return StrCat("SELECT packages FROM image_packages WHERE digest = ", Placeholder(dialect, 1),
                " AND length(attachment) > 0");
}

}  // namespace layerseal::controller::sql
