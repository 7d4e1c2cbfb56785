// `layerseal cri scrub` (issue 18): asks the layerseal agent for an integrity scrub of the
// node's images through its admin endpoint (GET /scrub?start=1[&image=D], docs/agent.md
// "Integrity scrub"), waits for it to finish (polling GET /scrub), and prints the report.
// The agent does the work on its own thread at its configured rate; this command only asks
// and waits. Exit 0 when nothing mismatched and every image could be checked, 1 when a
// mismatch was found, an image could not be checked, or the agent could not be asked; 2
// usage.
#include <chrono>
#include <string>
#include <thread>

#include <curl/curl.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "base/host_port.h"
#include "base/str_cat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/terminal.h"
#include "nlohmann/json.hpp"
#include "verifier/digest.h"

namespace layerseal::cli {
namespace {

using nlohmann::ordered_json;

constexpr char kDefaultAdmin[] = "127.0.0.1:9464";  // the agent's default admin address
constexpr absl::Duration kScrubRequestTimeout = absl::Seconds(10);
constexpr absl::Duration kScrubDefaultWait = absl::Hours(6);
constexpr absl::Duration kScrubPollInterval = absl::Milliseconds(500);
constexpr size_t kMaxScrubAnswerBytes = 8 << 20;

constexpr char kScrubUsage[] =
    "Usage: layerseal cri scrub [flags]\n"
    "\n"
    "Asks the layerseal agent to re-hash the images on the node from the runtime's content\n"
    "store (every blob against its descriptor, every layer against its diff_id), waits for it\n"
    "and prints the report. A mismatch marks the image corrupt in the agent: it is no longer\n"
    "admitted. Exit 0 clean, 1 a mismatch or an image that could not be checked, 2 usage.\n"
    "\n"
    "  --admin HOST:PORT   the agent's admin endpoint (default 127.0.0.1:9464)\n"
    "  --image DIGEST      only the image the runtime lists under this digest (sha256:...)\n"
    "  --no-wait           start the scrub and return\n"
    "  --timeout DURATION  how long to wait for the report (default 6h)\n"
    "  --output FORMAT     table (default) or json (the agent's report)\n";

size_t CollectScrubAnswer(char* data, size_t size, size_t n, void* out) {
  std::string* body = static_cast<std::string*>(out);
  if (size * n > kMaxScrubAnswerBytes - body->size()) return 0;  // curl fails the transfer
  body->append(data, size * n);
  return size * n;
}

struct AdminAnswer {
  long status = 0;
  ordered_json body;
};

absl::StatusOr<AdminAnswer> AdminGet(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");  // the agent is on this node
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(kScrubRequestTimeout)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectScrubAnswer);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(curl);
  AdminAnswer answer;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(StrCat(url, ": ", curl_easy_strerror(rc)));
  }
  answer.body = ordered_json::parse(body, nullptr, false);
  if (answer.body.is_discarded() || !answer.body.is_object()) {
    return absl::DataLossError(StrCat(url, ": HTTP ", answer.status, ", not a JSON object"));
  }
  return answer;
}

uint64_t ScrubCount(const ordered_json& report, const char* key) {
  auto it = report.find(key);
  return it != report.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string ScrubText(const ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool ScrubFlag(const ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

void PrintScrubReport(const ordered_json& report, std::ostream& out) {
  auto elapsed = report.find("elapsedSeconds");
  double seconds = elapsed != report.end() && elapsed->is_number() ? elapsed->get<double>() : 0;
  out << "images " << ScrubCount(report, "images") << ", blobs " << ScrubCount(report, "blobs") << ", bytes "
      << ScrubCount(report, "bytes") << ", mismatches " << ScrubCount(report, "mismatches")
      << ", not available " << ScrubCount(report, "notAvailable") << ", errors "
      << ScrubCount(report, "errors") << ", elapsed " << seconds << "s"
      << (ScrubFlag(report, "stopped") ? " (stopped: partial)" : "") << "\n";
  auto findings = report.find("findings");
  if (findings == report.end() || !findings->is_array() || findings->empty()) return;
  std::vector<std::vector<std::string>> rows = {{"KIND", "IMAGE", "BLOB", "DETAIL"}};
  for (const ordered_json& f : *findings) {
    if (!f.is_object()) continue;
    rows.push_back({TerminalSafe(ScrubText(f, "kind")), TerminalSafe(ScrubText(f, "image")),
                    TerminalSafe(ScrubText(f, "blob")), TerminalSafe(ScrubText(f, "detail"))});
  }
  PrintColumns(rows, 2, out);
  if (uint64_t dropped = ScrubCount(report, "findingsDropped"); dropped > 0) {
    out << "(" << dropped << " more findings not listed)\n";
  }
}

}  // namespace

int CriScrub(const Args& args, Io io) {
  const std::string command = "cri scrub";
  absl::StatusOr<Flags> flags =
      Flags::Parse(args, {{"admin", "image", "timeout", "output"}, {"no-wait", "help"}});
  if (!flags.ok()) return UsageError(io, command, Sv(flags.status().message()), kScrubUsage);
  if (flags->Has("help")) {
    io.out << kScrubUsage;
    return kExitOk;
  }
  if (!flags->positional().empty()) return UsageError(io, command, "takes no arguments", kScrubUsage);
  absl::StatusOr<HostPort> admin = SplitHostPort(flags->GetOr("admin", kDefaultAdmin), PortZero::kRefused);
  if (!admin.ok()) return UsageError(io, command, StrCat("--admin: ", Sv(admin.status().message())), kScrubUsage);
  const std::string output = flags->GetOr("output", "table");
  if (output != "table" && output != "json") {
    return UsageError(io, command, StrCat("--output is table or json, not \"", output, "\""), kScrubUsage);
  }
  absl::Duration wait = kScrubDefaultWait;
  if (auto t = flags->Get("timeout")) {
    absl::StatusOr<absl::Duration> d = ParsePositiveDuration(*t);
    if (!d.ok()) return UsageError(io, command, Sv(d.status().message()), kScrubUsage);
    wait = *d;
  }
  const std::string base = StrCat("http://", JoinHostPort(admin->host, admin->port), "/scrub");
  std::string start = StrCat(base, "?start=1");
  if (auto image = flags->Get("image")) {
    absl::StatusOr<Digest> d = Digest::Parse(*image);
    if (!d.ok()) return UsageError(io, command, StrCat("--image: ", Sv(d.status().message())), kScrubUsage);
    start += StrCat("&image=", d->str());
  }

  auto fail = [&](const std::string& why) {
    io.err << "layerseal " << command << ": " << TerminalSafe(why) << "\n";
    return kExitDenied;
  };
  absl::StatusOr<AdminAnswer> started = AdminGet(start);
  if (!started.ok()) return fail(std::string(Sv(started.status().message())));
  if (started->status == 409) return fail("the agent is running a scrub already; try again when it ends");
  if (started->status != 202 || !started->body.contains("run") ||
      !started->body["run"].is_number_unsigned()) {
    return fail(StrCat("the agent answered HTTP ", started->status, ": ",
                       started->body.dump(-1, ' ', false, ordered_json::error_handler_t::replace)));
  }
  const uint64_t run = started->body["run"].get<uint64_t>();
  if (flags->Has("no-wait")) {
    io.out << "scrub " << run << " started\n";
    return kExitOk;
  }
  const absl::Time deadline = absl::Now() + wait;
  ordered_json report;
  for (;;) {
    absl::StatusOr<AdminAnswer> status = AdminGet(base);
    if (!status.ok()) return fail(std::string(Sv(status.status().message())));
    const ordered_json& b = status->body;
    if (ScrubCount(b, "runs") >= run && b.contains("last") && b["last"].is_object()) {
      report = b["last"];
      break;
    }
    if (absl::Now() > deadline) return fail(StrCat("no report within ", absl::FormatDuration(wait)));
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(kScrubPollInterval));
  }
  if (output == "json") {
    io.out << JsonTerminalSafe(report.dump(2, ' ', false, ordered_json::error_handler_t::replace)) << "\n";
  } else {
    PrintScrubReport(report, io.out);
  }
  bool clean = ScrubCount(report, "mismatches") == 0 && ScrubCount(report, "errors") == 0 &&
               !ScrubFlag(report, "stopped");
  return clean ? kExitOk : kExitDenied;
}

}  // namespace layerseal::cli
