// `layerseal events`: reads the controller's events (EventQuery, controller.proto) over
// mutual TLS, as the agents talk to it: a filtered query followed page by page up to
// --limit, --follow for new events as they are stored, and the per-node and per-image
// summaries. Table output for people, JSON lines (proto3 JSON, one object a line) for tools.
//
// --follow does not reconnect: FollowEvents has no resume point, so a reconnect would
// silently skip what was stored in between. When the stream breaks the command says so and
// exits 1 (the gap can be read with --since); SIGINT/SIGTERM end it with exit 0.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <grpc/support/log.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/common.h"
#include "cli/terminal.h"
#include "cli/verdict_output.h"
#include "base/time_bound.h"
#include "google/protobuf/util/json_util.h"
#include "layerseal/v1/controller.grpc.pb.h"
#include "base/file.h"
#include "base/status_code.h"
#include "base/str_cat.h"

namespace layerseal::cli {
namespace {

constexpr absl::Duration kEventsDefaultTimeout = absl::Seconds(10);
constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 1000000;
constexpr int kMaxPageSize = 1000;  // the controller's own maximum
constexpr size_t kMaxPemFileBytes = 1024 * 1024;
constexpr int kEventsMaxReceiveMessageBytes = 16 * 1024 * 1024;
// How often a follower checks whether SIGINT/SIGTERM arrived.
constexpr absl::Duration kSignalPoll = absl::Milliseconds(100);

constexpr char kEventsUsage[] =
    "Usage: layerseal events [nodes|images] [flags]\n"
    "\n"
    "Reads the verdict events the agents reported to the layerseal controller (over mutual\n"
    "TLS, as the agents do). Exit 0 ok, 1 when the controller cannot be reached or answers\n"
    "with an error, 2 usage error.\n"
    "\n"
    "  layerseal events [filters]         events, newest first (up to --limit)\n"
    "  layerseal events --follow [filters] new events as the controller stores them, until\n"
    "                                     SIGINT/SIGTERM (exit 0) or the stream breaks (exit 1;\n"
    "                                     no reconnect: read the gap with --since)\n"
    "  layerseal events nodes             one line per node: last seen, agent and policy\n"
    "                                     version, spool backlog, events lost, events, denied\n"
    "  layerseal events images            one line per image: allowed, denied, nodes, packages\n"
    "  layerseal events images --packages the package inventory of each image digest (the\n"
    "                                     packages its layers above the base added or\n"
    "                                     changed): name, version, arch, layer, purl\n"
    "\n"
    "Filters (each narrows; strings match exactly):\n"
    "  --node NAME  --namespace NS  --pod NAME  --image REF  --digest sha256:...\n"
    "  --verdict ALLOW|DENY  --reason CODE (e.g. BAD_SIGNATURE)  --mode enforce|warn|audit\n"
    "  --signer S   events whose key id (sha256:...), keyless issuer or keyless subject is\n"
    "               exactly S, whatever the verdict (add --verdict ALLOW for what S admitted)\n"
    "  --since T    events at or after T: RFC 3339 (2026-11-23T13:00:00Z) or a duration back\n"
    "               from now (15m, 2h, 7d); 'events images' takes --since too\n"
    "  --until T    events before T (same forms)\n"
    "\n"
    "Output:\n"
    "  --output table|json  table (default) or JSON lines: one proto3 JSON object a line\n"
    "                       (Event, NodeSummary, ImageSummary, or with --packages\n"
    "                       ImagePackages, one per image digest)\n"
    "  --limit N            at most N events (default 100; pages are followed) or images\n"
    "  --follow             see above\n"
    "\n"
    "Connection (flags override the environment variables in brackets):\n"
    "  --controller HOST:PORT  the controller's gRPC address [LAYERSEAL_CONTROLLER]\n"
    "  --ca FILE               CA of the controller's certificate [LAYERSEAL_CONTROLLER_CA]\n"
    "  --cert FILE             this client's reader certificate (O=layerseal:readers),\n"
    "                          signed by the controller's client CA [LAYERSEAL_CONTROLLER_CERT]\n"
    "  --key FILE              its private key [LAYERSEAL_CONTROLLER_KEY]\n"
    "  --server-name NAME      the name to expect in the controller's certificate (default:\n"
    "                          the host of --controller)\n"
    "  --insecure              plain-text gRPC, for a controller started with --insecure\n"
    "                          (development only)\n"
    "  --timeout DURATION      per-call deadline (default 10s; not for the --follow stream)\n";

// ---------------------------------------------------------------- connection

struct EventsConnection {
  std::string address;  // for messages
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration timeout = kEventsDefaultTimeout;
};

std::string FlagOrEnv(const Flags& flags, const std::string& flag, const char* env) {
  if (auto v = flags.Get(flag)) return *v;
  const char* e = std::getenv(env);
  return e != nullptr ? e : "";
}

absl::StatusOr<EventsConnection> Connect(const Flags& flags) {
  EventsConnection c;
  c.address = FlagOrEnv(flags, "controller", "LAYERSEAL_CONTROLLER");
  if (c.address.empty()) {
    return absl::InvalidArgumentError("--controller HOST:PORT is required (or LAYERSEAL_CONTROLLER)");
  }
  if (auto t = flags.Get("timeout")) {
    absl::StatusOr<absl::Duration> d = ParsePositiveDuration(*t);
    if (!d.ok()) return absl::InvalidArgumentError(StrCat("--timeout: ", Sv(d.status().message())));
    c.timeout = *d;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kEventsMaxReceiveMessageBytes);
  if (flags.Has("insecure")) {
    c.channel = grpc::CreateCustomChannel(c.address, grpc::InsecureChannelCredentials(), args);
    return c;
  }
  std::string ca = FlagOrEnv(flags, "ca", "LAYERSEAL_CONTROLLER_CA");
  std::string cert = FlagOrEnv(flags, "cert", "LAYERSEAL_CONTROLLER_CERT");
  std::string key = FlagOrEnv(flags, "key", "LAYERSEAL_CONTROLLER_KEY");
  if (ca.empty() || cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "mutual TLS needs --ca, --cert and --key (or LAYERSEAL_CONTROLLER_CA, _CERT, _KEY); "
        "--insecure for a development controller");
  }
  grpc::SslCredentialsOptions tls;
  absl::StatusOr<std::string> pem = ReadFileLimited(ca, kMaxPemFileBytes, "--ca");
  if (!pem.ok()) return pem.status();
  tls.pem_root_certs = *pem;
  if (!(pem = ReadFileLimited(cert, kMaxPemFileBytes, "--cert")).ok()) return pem.status();
  tls.pem_cert_chain = *pem;
  if (!(pem = ReadFileLimited(key, kMaxPemFileBytes, "--key")).ok()) return pem.status();
  tls.pem_private_key = *pem;
  if (auto name = flags.Get("server-name")) args.SetSslTargetNameOverride(*name);
  c.channel = grpc::CreateCustomChannel(c.address, grpc::SslCredentials(tls), args);
  return c;
}

std::unique_ptr<grpc::ClientContext> CallContext(const EventsConnection& c) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(c.timeout));
  return ctx;
}

bool ContainsNoCase(std::string text, const char* word) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) {
    return static_cast<char>(std::tolower(ch));
  });
  return text.find(word) != std::string::npos;
}

// Says whether the controller was unreachable, refused our TLS, or answered an error.
int CallError(Io io, const std::string& command, const EventsConnection& c, const grpc::Status& s) {
  std::string code = StatusCodeName(static_cast<int>(s.error_code()));
  const std::string msg = TerminalSafe(s.error_message());  // the controller's words
  io.err << "layerseal " << command << ": ";
  bool unavailable = s.error_code() == grpc::StatusCode::UNAVAILABLE;
  if (unavailable && (ContainsNoCase(msg, "ssl") || ContainsNoCase(msg, "handshake") ||
                      ContainsNoCase(msg, "certificate") || ContainsNoCase(msg, "tls"))) {
    io.err << "TLS handshake with the controller at " << c.address
           << " failed (is its certificate signed by --ca, for --server-name? is the client "
              "certificate --cert/--key signed by its client CA?): "
           << msg << "\n";
  } else if (unavailable && (ContainsNoCase(msg, "socket closed") ||
                             ContainsNoCase(msg, "connection reset") ||
                             ContainsNoCase(msg, "end of tcp stream"))) {
    // With TLS 1.3 the server checks the client certificate after the client's side of the
    // handshake is done: a refused certificate shows here as a closed connection.
    io.err << "the controller at " << c.address
           << " closed the connection (does it accept the client certificate --cert? "
              "--insecure against a TLS controller?): "
           << msg << "\n";
  } else if (unavailable) {
    io.err << "cannot reach the controller at " << c.address << ": " << msg << "\n";
  } else if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    io.err << "the controller at " << c.address << " did not answer within "
           << absl::FormatDuration(c.timeout) << " (--timeout)\n";
  } else {
    io.err << "the controller at " << c.address << " answered " << code << ": " << msg << "\n";
  }
  return kExitDenied;
}

// gRPC logs connection failures to stderr itself; CallError says what happened once, in
// words. GRPC_VERBOSITY set in the environment keeps gRPC's own logging.
void DropGrpcLog(gpr_log_func_args*) {}

// ---------------------------------------------------------------- flags

std::string Upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

absl::StatusOr<v1::EventFilter> FilterFromFlags(const Flags& f) {
  v1::EventFilter filter;
  filter.set_node(f.GetOr("node", ""));
  filter.set_namespace_(f.GetOr("namespace", ""));
  filter.set_pod(f.GetOr("pod", ""));
  filter.set_image(f.GetOr("image", ""));
  filter.set_digest(f.GetOr("digest", ""));
  filter.set_reason(f.GetOr("reason", ""));
  filter.set_signer(f.GetOr("signer", ""));
  filter.set_verdict(Upper(f.GetOr("verdict", "")));
  if (!filter.verdict().empty() && filter.verdict() != "ALLOW" && filter.verdict() != "DENY") {
    return absl::InvalidArgumentError(StrCat("--verdict is ALLOW or DENY, not \"", *f.Get("verdict"), "\""));
  }
  filter.set_mode(f.GetOr("mode", ""));
  const std::string& m = filter.mode();
  if (!m.empty() && m != "enforce" && m != "warn" && m != "audit") {
    return absl::InvalidArgumentError(StrCat("--mode is enforce, warn or audit, not \"", m, "\""));
  }
  absl::Time now = absl::Now();
  for (const char* flag : {"since", "until"}) {
    auto v = f.Get(flag);
    if (!v) continue;
    absl::StatusOr<int64_t> t = ParseTimeBound(*v, now);
    if (!t.ok()) return absl::InvalidArgumentError(StrCat("--", flag, " ", Sv(t.status().message())));
    if (std::string(flag) == "since") {
      filter.set_since_unix_micros(*t);
    } else {
      filter.set_until_unix_micros(*t);
    }
  }
  // Presence, not 0, says a bound was given: --until 1970-01-01T00:00:00Z is a bound.
  if (filter.has_since_unix_micros() && filter.has_until_unix_micros() &&
      filter.until_unix_micros() <= filter.since_unix_micros()) {
    return absl::InvalidArgumentError("--until is not after --since");
  }
  return filter;
}

absl::StatusOr<int> LimitFromFlags(const Flags& f) {
  auto v = f.Get("limit");
  if (!v) return kDefaultLimit;
  int n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n < 1 || n > kMaxLimit) {
    return absl::InvalidArgumentError(StrCat("--limit \"", *v, "\" is not a number from 1 to ", kMaxLimit));
  }
  return n;
}

// ---------------------------------------------------------------- output

std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return JsonTerminalSafe(out);
}

// Event fields come from nodes: what a terminal would act on is shown escaped (terminal.h).
std::string Clean(const std::string& s) { return s.empty() ? "-" : TerminalSafe(s); }

std::string TimeText(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(micros), absl::UTCTimeZone());
}

using Row = std::vector<std::string>;

const Row kEventHeader = {"TIME", "NODE", "POD", "IMAGE", "DIGEST", "VERDICT", "REASON", "MODE",
                          "SIGNER"};

Row EventRow(const v1::Event& e) {
  std::string pod = e.pod_namespace().empty() ? "" : e.pod_namespace() + "/" + e.pod_name();
  if (e.kind() == v1::Event::EVENTS_LOST) {
    return {TimeText(e.time_unix_micros()), Clean(e.node()), "-", "-", "-",
            StrCat("LOST(", e.lost_count(), ")"), "EVENTS_LOST", "-", "-"};
  }
  const v1::Verdict& v = e.verdict();
  return {TimeText(e.time_unix_micros()), Clean(e.node()), Clean(pod),
          Clean(e.image().empty() ? v.reference() : e.image()), Clean(ShortDigest(v.digest())),
          Clean(v.verdict()), Clean(v.reason()), Clean(v.mode()), Clean(SignerText(v))};
}

void PrintTable(const std::vector<Row>& rows, std::ostream& out) { PrintColumns(rows, 2, out); }

// ---------------------------------------------------------------- follow

// SIGINT/SIGTERM while following: the handler only sets a flag; a watcher thread cancels
// the stream (gRPC calls are not async-signal-safe).
std::atomic<int> g_stop_signal{0};
void OnStopSignal(int sig) { g_stop_signal.store(sig); }

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction sa = {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  bool stopped() const { return g_stop_signal.load() != 0; }

 private:
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

int Follow(Io io, const EventsConnection& c, const v1::EventFilter& filter, bool json) {
  auto stub = v1::EventQuery::NewStub(c.channel);
  StopSignals signals;
  grpc::ClientContext ctx;  // no deadline: until the user or the controller ends it
  absl::Notification done;
  std::thread watcher([&] {
    while (!done.WaitForNotificationWithTimeout(kSignalPoll)) {
      if (signals.stopped()) {
        ctx.TryCancel();
        return;
      }
    }
  });
  v1::FollowEventsRequest request;
  *request.mutable_filter() = filter;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub->FollowEvents(&ctx, request);
  if (!json) PrintTable({kEventHeader}, io.out);
  io.out.flush();
  v1::Event event;
  while (reader->Read(&event)) {
    if (json) {
      io.out << ToJsonLine(event) << "\n";
    } else {
      // Column widths are not known ahead; tabs keep a stream readable and cut-able.
      Row row = EventRow(event);
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) line += (i == 0 ? "" : "\t") + row[i];
      io.out << line << "\n";
    }
    io.out.flush();
  }
  grpc::Status s = reader->Finish();
  done.Notify();
  watcher.join();
  if (signals.stopped()) return kExitOk;
  if (s.ok()) {
    io.err << "layerseal events: the controller at " << c.address << " ended the stream\n";
    return kExitOk;
  }
  return CallError(io, "events --follow", c, s);
}

// ---------------------------------------------------------------- commands

int Query(Io io, const EventsConnection& c, const v1::EventFilter& filter, int limit, bool json) {
  auto stub = v1::EventQuery::NewStub(c.channel);
  std::vector<Row> rows = {kEventHeader};
  std::string token;
  int got = 0;
  do {
    v1::QueryEventsRequest request;
    *request.mutable_filter() = filter;
    request.set_page_size(static_cast<uint32_t>(std::min(limit - got, kMaxPageSize)));
    request.set_page_token(token);
    v1::QueryEventsResponse response;
    grpc::Status s = stub->QueryEvents(CallContext(c).get(), request, &response);
    if (!s.ok()) return CallError(io, "events", c, s);
    for (const v1::Event& e : response.events()) {
      if (got == limit) break;
      ++got;
      if (json) {
        io.out << ToJsonLine(e) << "\n";
      } else {
        rows.push_back(EventRow(e));
      }
    }
    token = response.next_page_token();
  } while (!token.empty() && got < limit);
  if (!json) PrintTable(rows, io.out);
  return kExitOk;
}

int Nodes(Io io, const EventsConnection& c, bool json) {
  auto stub = v1::EventQuery::NewStub(c.channel);
  v1::ListNodesResponse response;
  grpc::Status s = stub->ListNodes(CallContext(c).get(), v1::ListNodesRequest(), &response);
  if (!s.ok()) return CallError(io, "events nodes", c, s);
  std::vector<Row> rows = {{"NODE", "LAST SEEN", "AGENT", "POLICY", "BACKLOG", "LOST", "EVENTS",
                            "DENIED"}};
  for (const v1::NodeSummary& n : response.nodes()) {
    if (json) {
      io.out << ToJsonLine(n) << "\n";
      continue;
    }
    rows.push_back({Clean(n.node()), TimeText(n.last_seen_unix_micros()),
                    Clean(n.status().agent_version()), Clean(ShortDigest(n.status().policy_version())),
                    StrCat(n.status().spool_backlog()), StrCat(n.status().events_lost()),
                    StrCat(n.events()), StrCat(n.denied())});
  }
  if (!json) PrintTable(rows, io.out);
  return kExitOk;
}

int Images(Io io, const EventsConnection& c, const v1::EventFilter& filter, int limit, bool json) {
  auto stub = v1::EventQuery::NewStub(c.channel);
  v1::ListImagesRequest request;
  request.set_since_unix_micros(filter.since_unix_micros());
  request.set_limit(static_cast<uint32_t>(std::min(limit, kMaxPageSize)));
  v1::ListImagesResponse response;
  grpc::Status s = stub->ListImages(CallContext(c).get(), request, &response);
  if (!s.ok()) return CallError(io, "events images", c, s);
  std::vector<Row> rows = {
      {"IMAGE", "LAST DIGEST", "ALLOWED", "DENIED", "NODES", "PACKAGES", "LAST SEEN"}};
  for (const v1::ImageSummary& im : response.images()) {
    if (json) {
      io.out << ToJsonLine(im) << "\n";
      continue;
    }
    std::string nodes;
    for (const std::string& n : im.nodes()) nodes += (nodes.empty() ? "" : ",") + n;
    rows.push_back({Clean(im.image()), Clean(ShortDigest(im.last_digest())), StrCat(im.allowed()),
                    StrCat(im.denied()), Clean(nodes),
                    im.has_packages() ? StrCat(im.packages()) : "-",
                    TimeText(im.last_seen_unix_micros())});
  }
  if (!json) PrintTable(rows, io.out);
  return kExitOk;
}

// `events images --packages`: every image digest with a stored inventory (most recently
// seen first, at most `limit`), each with the image names its events used (from ListImages)
// and its packages. JSON: one ImagePackages a line.
int ImagePackages(Io io, const EventsConnection& c, const v1::EventFilter& filter, int limit,
                  bool json) {
  constexpr char kWhat[] = "events images --packages";
  auto stub = v1::EventQuery::NewStub(c.channel);
  v1::ListImagesRequest images_request;
  images_request.set_since_unix_micros(filter.since_unix_micros());
  images_request.set_limit(static_cast<uint32_t>(kMaxPageSize));
  v1::ListImagesResponse images;
  grpc::Status s = stub->ListImages(CallContext(c).get(), images_request, &images);
  if (!s.ok()) return CallError(io, kWhat, c, s);
  std::map<std::string, std::vector<std::string>> names;  // digest -> images as requested
  for (const v1::ImageSummary& im : images.images()) {
    if (!im.last_digest().empty()) names[im.last_digest()].push_back(im.image());
  }
  v1::ListImagePackagesRequest list_request;
  list_request.set_limit(static_cast<uint32_t>(std::min(limit, kMaxPageSize)));
  v1::ListImagePackagesResponse list;
  s = stub->ListImagePackages(CallContext(c).get(), list_request, &list);
  if (!s.ok()) return CallError(io, kWhat, c, s);
  bool first = true;
  for (const v1::ImagePackages& summary : list.images()) {
    v1::ImagePackages inv = summary;
    if (summary.omitted_bytes() == 0) {
      v1::GetImagePackagesRequest get;
      get.set_digest(summary.digest());
      s = stub->GetImagePackages(CallContext(c).get(), get, &inv);
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) continue;  // pruned meanwhile
      if (!s.ok()) return CallError(io, kWhat, c, s);
    }
    if (json) {
      io.out << ToJsonLine(inv) << "\n";
      continue;
    }
    if (!first) io.out << "\n";
    first = false;
    std::string refs;
    for (const std::string& n : names[inv.digest()]) refs += (refs.empty() ? "" : ", ") + n;
    io.out << "IMAGE " << Clean(inv.digest())
           << (refs.empty() ? "" : " (" + TerminalSafe(refs) + ")") << "\n";
    if (inv.omitted_bytes() > 0) {
      io.out << "  no inventory: the agent on " << Clean(inv.node()) << " built one of "
             << inv.omitted_bytes()
             << " bytes, more than an agent sends in one event, and did not send it\n";
      continue;
    }
    io.out << "  " << inv.package_count() << " package(s) above the base (" << inv.base_layers()
           << " of " << inv.layers() << " layers)"
           << (inv.distro().empty() ? "" : ", " + TerminalSafe(inv.distro())) << "; reported by "
           << Clean(inv.node()) << " " << TimeText(inv.updated_unix_micros()) << "\n";
    for (const std::string& u : inv.unavailable()) {
      io.out << "  unreadable: " << TerminalSafe(u) << "\n";
    }
    if (inv.packages_size() == 0) continue;
    std::vector<Row> rows = {{"NAME", "VERSION", "ARCH", "LAYER", "CHANGE", "PURL"}};
    for (const v1::ImagePackage& p : inv.packages()) {
      std::string change = p.change() == "changed" && !p.previous_version().empty()
                               ? StrCat("from ", p.previous_version())
                               : p.change();
      rows.push_back({Clean(p.name()), Clean(p.version()), Clean(p.arch()),
                      StrCat(p.layer_index(), " ", ShortDigest(p.layer_digest())), Clean(change),
                      Clean(p.purl())});
    }
    PrintTable(rows, io.out);
  }
  if (!json && first) io.out << "no package inventories stored\n";
  return kExitOk;
}

const FlagSpec& Spec() {
  static const FlagSpec spec = {
      {"controller", "ca", "cert", "key", "server-name", "timeout", "node", "namespace", "pod",
       "image", "digest", "verdict", "reason", "mode", "since", "until", "limit", "output",
       "signer"},
      {"follow", "insecure", "help", "packages"}};
  return spec;
}

}  // namespace

int Events(const Args& args, Io io) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DropGrpcLog);
  absl::StatusOr<Flags> flags = Flags::Parse(args, Spec());
  if (!flags.ok()) return UsageError(io, "events", Sv(flags.status().message()), kEventsUsage);
  const Flags& f = *flags;
  if (f.Has("help")) {
    io.out << kEventsUsage;
    return kExitOk;
  }
  std::string what = f.positional().empty() ? "" : f.positional()[0];
  if (f.positional().size() > 1 || (what != "" && what != "nodes" && what != "images")) {
    return UsageError(io, "events", "takes no arguments but 'nodes' or 'images'", kEventsUsage);
  }
  std::string output = f.GetOr("output", "table");
  if (output != "table" && output != "json") {
    return UsageError(io, "events", StrCat("--output is table or json, not \"", output, "\""), kEventsUsage);
  }
  absl::StatusOr<v1::EventFilter> filter = FilterFromFlags(f);
  if (!filter.ok()) return UsageError(io, "events", Sv(filter.status().message()), kEventsUsage);
  absl::StatusOr<int> limit = LimitFromFlags(f);
  if (!limit.ok()) return UsageError(io, "events", Sv(limit.status().message()), kEventsUsage);
  // The summaries take no event filters: refuse them rather than ignore them.
  for (const char* flag : {"node", "namespace", "pod", "image", "digest", "verdict", "reason",
                           "mode", "signer", "until", "follow"}) {
    if (what != "" && f.Has(flag)) {
      return UsageError(io, "events", StrCat("--", flag, " is for events, not 'events ", what, "'"),
                        kEventsUsage);
    }
  }
  if (f.Has("packages") && what != "images") {
    return UsageError(io, "events", "--packages is for 'events images'", kEventsUsage);
  }
  if (what == "nodes" && (f.Has("since") || f.Has("limit"))) {
    return UsageError(io, "events", "'events nodes' takes neither --since nor --limit", kEventsUsage);
  }
  absl::StatusOr<EventsConnection> c = Connect(f);
  if (!c.ok()) return Fail(io, "events", c.status(), kExitUsage);
  bool json = output == "json";
  if (what == "nodes") return Nodes(io, *c, json);
  if (what == "images" && f.Has("packages")) return ImagePackages(io, *c, *filter, *limit, json);
  if (what == "images") return Images(io, *c, *filter, *limit, json);
  if (f.Has("follow")) return Follow(io, *c, *filter, json);
  return Query(io, *c, *filter, *limit, json);
}

}  // namespace layerseal::cli
