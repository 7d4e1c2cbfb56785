// A real PostgreSQL 15 server for tests and benchmarks: its own cluster (initdb) in a temp
// dir, listening on 127.0.0.1 at a free port and on a unix socket in that dir. Never
// touches a cluster of the machine's own. As root, initdb and postgres run as the
// `postgres` user (PostgreSQL refuses to run as root); otherwise as the current user.
// Starting takes seconds: start one per test suite.
//
// Thread-safety: not thread-safe; one thread drives it.
// Ownership: owns the temp dir and the server process; stops and removes both on destruction.
#ifndef LAYERSEAL_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define LAYERSEAL_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace layerseal::testing {

inline constexpr char kPostgresBinDir[] = "/usr/lib/postgresql/15/bin";

class PostgresServer {
 public:
  struct Options {
    // Off for tests (speed); on to measure what a real deployment would see.
    bool fsync = false;
  };
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start() { return Start(Options()); }
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Fast shutdown (clients disconnected); the data stays for Restart().
  absl::Status Stop();
  // Starts the stopped server again on the same port and data.
  absl::Status Restart();

  int port() const { return port_; }
  // libpq URI of database `db` as the superuser "postgres" (trust authentication).
  std::string Url(const std::string& db) const;
  absl::Status CreateDatabase(const std::string& name);
  // Runs `sql` with psql in `db` (ON_ERROR_STOP); returns its unaligned, tuples-only output.
  absl::StatusOr<std::string> Psql(const std::string& db, const std::string& sql);

 private:
  PostgresServer(Options options, int port) : options_(options), port_(port) {}
  // argv run as the server's user (prefixed with runuser when we are root).
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const;
  absl::Status Init();
  absl::Status Launch();

  Options options_;
  int port_;
  TempDir dir_;
  std::unique_ptr<Child> child_;
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_POSTGRES_SERVER_H_
