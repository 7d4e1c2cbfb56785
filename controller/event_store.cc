#include "controller/event_store.h"

#include <utility>

#include "absl/status/status.h"
#include "controller/postgres_store.h"
#include "controller/sqlite_store.h"
#include "base/str_cat.h"

namespace layerseal::controller {

namespace {

class Unusable final : public EventStore {
 public:
  explicit Unusable(absl::Status why) : why_(std::move(why)) {}
  absl::StatusOr<AppendResult> Append(const std::string&, const v1::AgentStatus&,
                                      const std::vector<v1::Event>&, absl::Time) override {
    return why_;
  }
  absl::StatusOr<EventPage> Query(const v1::EventFilter&, int, const std::string&) override {
    return why_;
  }
  absl::StatusOr<int64_t> LatestCursor() override { return why_; }
  absl::StatusOr<std::vector<v1::Event>> After(const v1::EventFilter&, int64_t*, int) override {
    return why_;
  }
  absl::StatusOr<std::vector<v1::NodeSummary>> Nodes() override { return why_; }
  absl::StatusOr<std::vector<v1::ImageSummary>> Images(absl::Time, int) override {
    return why_;
  }
  absl::Status PutPackages(const std::vector<ImagePackagesRecord>&, absl::Time) override {
    return why_;
  }
  absl::StatusOr<ImagePackagesRecord> GetPackages(const std::string&) override { return why_; }
  absl::StatusOr<std::vector<ImagePackagesRecord>> ListPackages(int) override { return why_; }
  absl::StatusOr<int64_t> Prune(absl::Time) override { return why_; }
  int64_t Count() override { return -1; }
  absl::Status Damage() override { return why_; }

 private:
  const absl::Status why_;
};

}  // namespace

std::string NoInventoryMessage(const std::string& digest) {
  return StrCat("no package inventory stored for image ", digest);
}

std::unique_ptr<EventStore> UnusableStore(absl::Status why) {
  return std::make_unique<Unusable>(std::move(why));
}

absl::StatusOr<std::unique_ptr<EventStore>> OpenEventStore(const std::string& url,
                                                           StoreOptions options) {
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return OpenPostgresStore(url);
  }
  size_t scheme_end = url.find("://");
  if (scheme_end != std::string::npos && url.rfind("sqlite://", 0) != 0) {
    return absl::InvalidArgumentError(
        StrCat("store URL ", url.substr(0, scheme_end),
               "://...: unknown scheme (sqlite:, postgres:// or postgresql://)"));
  }
  absl::StatusOr<std::string> path = SqlitePathFromUrl(url);
  if (!path.ok()) return path.status();
  return OpenSqliteStore(*path, std::move(options));
}

}  // namespace layerseal::controller
