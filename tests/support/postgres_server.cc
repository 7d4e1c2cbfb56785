#include "tests/support/postgres_server.h"

#include <unistd.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "base/str_cat.h"

namespace layerseal::testing {
namespace {

constexpr absl::Duration kPostgresStartTimeout = absl::Seconds(60);

std::string Bin(const char* name) { return StrCat(kPostgresBinDir, "/", name); }

absl::Status Check(const absl::StatusOr<RunResult>& r, const std::string& what) {
  if (!r.ok()) return absl::Status(r.status().code(), StrCat(what, ": ", Sv(r.status().message())));
  if (r->exit_code != 0) {
    return absl::InternalError(StrCat(what, ": exit ", r->exit_code, ": ", r->err, r->out));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(Options options) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(options, PickFreePort()));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

PostgresServer::~PostgresServer() {
  if (child_ != nullptr) {
    (void)Run(AsServerUser(
        {Bin("pg_ctl"), "stop", "-D", dir_.File("data"), "-m", "immediate", "-w", "-t", "30"}));
    child_.reset();
  }
}

std::vector<std::string> PostgresServer::AsServerUser(std::vector<std::string> argv) const {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status PostgresServer::Init() {
  if (geteuid() == 0) {
    if (absl::Status s = Check(Run({"chown", "-R", "postgres:postgres", dir_.path()}), "chown");
        !s.ok()) {
      return s;
    }
  }
  return Check(
      Run(AsServerUser({Bin("initdb"), "-D", dir_.File("data"), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"})),
      StrCat("initdb in ", dir_.path()));
}

absl::Status PostgresServer::Launch() {
  std::vector<std::string> argv = {Bin("postgres"), "-D", dir_.File("data"), "-k",
                                   dir_.path(),     "-h", "127.0.0.1",       "-p",
                                   StrCat(port_)};
  if (!options_.fsync) {
    for (const char* c : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      argv.insert(argv.end(), {"-c", c});
    }
  }
  absl::StatusOr<std::unique_ptr<Child>> child =
      Child::Spawn(AsServerUser(argv), dir_.File("postgres.log"));
  if (!child.ok()) return child.status();
  child_ = std::move(*child);
  // Accepting TCP is not yet accepting queries ("the database system is starting up").
  absl::Time deadline = absl::Now() + kPostgresStartTimeout;
  while (absl::Now() < deadline) {
    if (!child_->Running()) break;
    absl::StatusOr<RunResult> ready = Run(
        {Bin("pg_isready"), "-h", "127.0.0.1", "-p", StrCat(port_), "-U", "postgres", "-t", "1"});
    if (ready.ok() && ready->exit_code == 0) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(StrCat(
      "postgres on port ", port_, " did not start: ", ReadFileOrDie(dir_.File("postgres.log"))));
}

absl::Status PostgresServer::Stop() {
  if (child_ == nullptr) return absl::OkStatus();
  absl::Status s = Check(Run(AsServerUser({Bin("pg_ctl"), "stop", "-D", dir_.File("data"), "-m",
                                           "fast", "-w", "-t", "30"})),
                         "pg_ctl stop");
  child_.reset();
  return s;
}

absl::Status PostgresServer::Restart() {
  if (child_ != nullptr) return absl::FailedPreconditionError("postgres is running");
  return Launch();
}

std::string PostgresServer::Url(const std::string& db) const {
  return StrCat("postgresql://postgres@127.0.0.1:", port_, "/", db);
}

absl::Status PostgresServer::CreateDatabase(const std::string& name) {
  return Psql("postgres", StrCat("CREATE DATABASE \"", name, "\"")).status();
}

absl::StatusOr<std::string> PostgresServer::Psql(const std::string& db, const std::string& sql) {
  absl::StatusOr<RunResult> r =
      Run({Bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
           StrCat(port_), "-U", "postgres", "-d", db, "-c", sql});
  if (absl::Status s = Check(r, StrCat("psql ", sql)); !s.ok()) return s;
  return r->out;
}

}  // namespace layerseal::testing
