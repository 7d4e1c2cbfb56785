// `layerseal cri`: a small CRI client for people (no crictl on Debian). Talks runtime.v1 to
// the layerseal agent's socket (or any CRI runtime's) over a unix socket: version, pull,
// images, inspecti, rmi. A runtime error prints the gRPC status code name and the runtime's
// message verbatim (what the kubelet would show) and exits 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/common.h"
#include "cli/terminal.h"
#include "google/protobuf/util/json_util.h"
#include "k8s/cri/runtime/v1/api.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "base/status_code.h"
#include "base/str_cat.h"

namespace layerseal::cli {
namespace {

using nlohmann::ordered_json;
namespace rt = ::runtime::v1;

constexpr char kDefaultEndpoint[] = "unix:///run/layerseal/layerseal.sock";
constexpr absl::Duration kCriDefaultTimeout = absl::Seconds(10);
constexpr absl::Duration kDefaultPullTimeout = absl::Minutes(2);
// Verbose ImageStatus answers and long image lists can be large.
constexpr int kCriMaxReceiveMessageBytes = 64 * 1024 * 1024;
constexpr size_t kShortIdLength = 13;  // as crictl shows image IDs

constexpr char kCriUsage[] =
    "Usage: layerseal cri <command> [flags] [args]\n"
    "\n"
    "A CRI (runtime.v1) client for people: talks to the layerseal agent's socket, or to any\n"
    "CRI runtime's. Exit 0 ok, 1 when the runtime answers with an error (its gRPC code and\n"
    "message are printed as the kubelet would see them), 2 usage error.\n"
    "\n"
    "Commands:\n"
    "  version    the runtime's name and versions\n"
    "  pull       pull an image (through the agent's policy) and print its image ref\n"
    "  images     list the runtime's images\n"
    "  inspecti   one image's status, as JSON\n"
    "  rmi        remove an image\n"
    "  scrub      ask the layerseal agent to re-hash the node's images (its admin endpoint)\n"
    "\n"
    "Run 'layerseal cri <command> --help' for a command's flags.\n";

constexpr char kConnectionFlagsHelp[] =
    "Connection flags:\n"
    "  --endpoint E        the CRI socket: unix:///path or /path\n"
    "                      (default unix:///run/layerseal/layerseal.sock)\n"
    "  --timeout DURATION  per-call deadline, e.g. 30s (default 10s; pull: 2m)\n";

constexpr char kVersionUsage[] =
    "Usage: layerseal cri version [flags]\n"
    "\n"
    "Prints the runtime's name, version and CRI API version (RuntimeService/Version).\n";

constexpr char kPullUsage[] =
    "Usage: layerseal cri pull [flags] IMAGE\n"
    "\n"
    "Pulls IMAGE (ImageService/PullImage) and prints the image ref the runtime answers.\n"
    "With --namespace, the request carries the pod's sandbox metadata, as the kubelet's\n"
    "does: the agent chooses the policy by namespace.\n"
    "\n"
    "  --creds USER:PASS   registry credentials sent in the request\n"
    "  --namespace NS      the pod's namespace\n"
    "  --pod NAME          the pod's name (with --namespace)\n"
    "  --pod-uid UID       the pod's UID (with --namespace)\n";

constexpr char kImagesUsage[] =
    "Usage: layerseal cri images [flags]\n"
    "\n"
    "Lists the runtime's images (ImageService/ListImages).\n"
    "\n"
    "  --output FORMAT     table (default) or json (the ListImagesResponse, proto3 JSON)\n";

constexpr char kInspectiUsage[] =
    "Usage: layerseal cri inspecti [flags] IMAGE\n"
    "\n"
    "Prints IMAGE's status as JSON (ImageStatus, verbose; the runtime's info values are\n"
    "shown as JSON when they are JSON). Exit 1 when the runtime has no such image.\n";

constexpr char kRmiUsage[] =
    "Usage: layerseal cri rmi [flags] IMAGE\n"
    "\n"
    "Removes IMAGE (ImageService/RemoveImage). Exit 1 when the runtime has no such image.\n";

// What every subcommand has parsed before it calls: the channel and the call deadline.
struct CriConnection {
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration timeout;
  std::string command;  // "cri pull", for messages

  void Prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  }
};

// "unix:///path", "unix:path" or a plain path: the gRPC target "unix:<path>".
absl::StatusOr<std::string> TargetFromEndpoint(const std::string& endpoint) {
  std::string path;
  if (endpoint.rfind("unix://", 0) == 0) {
    path = endpoint.substr(7);
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          StrCat("--endpoint ", endpoint, ": unix:// needs an absolute path (unix:///path)"));
    }
  } else if (endpoint.rfind("unix:", 0) == 0) {
    path = endpoint.substr(5);
  } else if (endpoint.find("://") != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("--endpoint ", endpoint, ": only unix sockets (unix:///path or /path)"));
  } else {
    path = endpoint;
  }
  if (path.empty()) return absl::InvalidArgumentError("--endpoint is empty");
  return StrCat("unix:", path);
}

FlagSpec WithConnectionFlags(FlagSpec spec) {
  spec.values.insert({"endpoint", "timeout"});
  spec.switches.insert("help");
  return spec;
}

absl::StatusOr<CriConnection> ConnectionFromFlags(const Flags& flags, absl::Duration default_timeout,
                                               std::string command) {
  CriConnection c;
  c.command = std::move(command);
  c.timeout = default_timeout;
  if (auto t = flags.Get("timeout")) {
    absl::StatusOr<absl::Duration> d = ParsePositiveDuration(*t);
    if (!d.ok()) return d.status();
    c.timeout = *d;
  }
  absl::StatusOr<std::string> target = TargetFromEndpoint(flags.GetOr("endpoint", kDefaultEndpoint));
  if (!target.ok()) return target.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kCriMaxReceiveMessageBytes);
  c.channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  return c;
}

// "NOT_FOUND: <the runtime's message>" on stderr, exit 1.
int RuntimeError(Io io, const CriConnection& c, const grpc::Status& status) {
  io.err << "layerseal " << c.command << ": "
         << StatusCodeName(static_cast<int>(status.error_code())) << ": "
         << TerminalSafe(status.error_message()) << "\n";
  return kExitDenied;
}

// Parses the flags common to every subcommand; returns the exit code when it is done
// already (help or usage error).
struct Parsed {
  Flags flags;
  CriConnection connection;
};
std::optional<int> Parse(const Args& args, Io io, FlagSpec spec, const char* usage,
                         const std::string& command, size_t positional,
                         absl::Duration default_timeout, Parsed& out) {
  absl::StatusOr<Flags> flags = Flags::Parse(args, WithConnectionFlags(std::move(spec)));
  if (!flags.ok()) return UsageError(io, command, Sv(flags.status().message()), usage);
  if (flags->Has("help")) {
    io.out << usage << "\n" << kConnectionFlagsHelp;
    return kExitOk;
  }
  if (flags->positional().size() != positional) {
    return UsageError(io, command,
                      positional == 0 ? "takes no arguments" : "give exactly one IMAGE", usage);
  }
  absl::StatusOr<CriConnection> c = ConnectionFromFlags(*flags, default_timeout, command);
  if (!c.ok()) return UsageError(io, command, Sv(c.status().message()), usage);
  out.flags = *std::move(flags);
  out.connection = *std::move(c);
  return std::nullopt;
}

std::string ToJson(const google::protobuf::Message& message, bool whitespace) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = whitespace;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

std::string ShortId(const std::string& id) {
  std::string s = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return s.substr(0, kShortIdLength);
}

// Decimal units with 3-4 significant digits, as crictl (docker's units.HumanSize) shows sizes.
std::string HumanSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1000 && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g%s", v, kUnits[unit]);
  return buf;
}

std::string JoinOrNone(const google::protobuf::RepeatedPtrField<std::string>& items) {
  if (items.empty()) return "<none>";
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Cells come from the runtime: shown escaped (terminal.h).
void PrintSafeTable(std::vector<std::vector<std::string>> rows, std::ostream& out) {
  for (auto& row : rows) {
    for (std::string& cell : row) cell = TerminalSafe(cell);
  }
  PrintColumns(rows, 3, out);
}

int Version(const Args& args, Io io) {
  Parsed p;
  if (auto done = Parse(args, io, {}, kVersionUsage, "cri version", 0, kCriDefaultTimeout, p)) {
    return *done;
  }
  auto stub = rt::RuntimeService::NewStub(p.connection.channel);
  grpc::ClientContext ctx;
  p.connection.Prepare(ctx);
  rt::VersionRequest request;
  request.set_version("v1");
  rt::VersionResponse response;
  grpc::Status s = stub->Version(&ctx, request, &response);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  io.out << "Version:            " << TerminalSafe(response.version()) << "\n"
         << "RuntimeName:        " << TerminalSafe(response.runtime_name()) << "\n"
         << "RuntimeVersion:     " << TerminalSafe(response.runtime_version()) << "\n"
         << "RuntimeApiVersion:  " << TerminalSafe(response.runtime_api_version()) << "\n";
  return kExitOk;
}

int Pull(const Args& args, Io io) {
  Parsed p;
  FlagSpec spec{{"creds", "namespace", "pod", "pod-uid"}, {}};
  if (auto done = Parse(args, io, spec, kPullUsage, "cri pull", 1, kDefaultPullTimeout, p)) {
    return *done;
  }
  const Flags& f = p.flags;
  rt::PullImageRequest request;
  request.mutable_image()->set_image(f.positional()[0]);
  if (auto creds = f.Get("creds")) {
    size_t colon = creds->find(':');
    if (colon == std::string::npos || colon == 0) {
      return UsageError(io, "cri pull", "--creds is USER:PASS", kPullUsage);
    }
    request.mutable_auth()->set_username(creds->substr(0, colon));
    request.mutable_auth()->set_password(creds->substr(colon + 1));
  }
  if (f.Has("namespace")) {
    rt::PodSandboxMetadata* md = request.mutable_sandbox_config()->mutable_metadata();
    md->set_namespace_(*f.Get("namespace"));
    md->set_name(f.GetOr("pod", ""));
    md->set_uid(f.GetOr("pod-uid", ""));
  } else if (f.Has("pod") || f.Has("pod-uid")) {
    return UsageError(io, "cri pull", "--pod and --pod-uid need --namespace", kPullUsage);
  }
  auto stub = rt::ImageService::NewStub(p.connection.channel);
  grpc::ClientContext ctx;
  p.connection.Prepare(ctx);
  rt::PullImageResponse response;
  grpc::Status s = stub->PullImage(&ctx, request, &response);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  io.out << TerminalSafe(response.image_ref()) << "\n";
  return kExitOk;
}

int Images(const Args& args, Io io) {
  Parsed p;
  if (auto done = Parse(args, io, {{"output"}, {}}, kImagesUsage, "cri images", 0,
                        kCriDefaultTimeout, p)) {
    return *done;
  }
  std::string output = p.flags.GetOr("output", "table");
  if (output != "table" && output != "json") {
    return UsageError(io, "cri images", StrCat("--output is table or json, not \"", output, "\""),
                      kImagesUsage);
  }
  auto stub = rt::ImageService::NewStub(p.connection.channel);
  grpc::ClientContext ctx;
  p.connection.Prepare(ctx);
  rt::ListImagesResponse response;
  grpc::Status s = stub->ListImages(&ctx, rt::ListImagesRequest(), &response);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  if (output == "json") {
    io.out << JsonTerminalSafe(ToJson(response, true)) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"IMAGE ID", "REPO TAGS", "REPO DIGESTS", "SIZE"}};
  for (const rt::Image& image : response.images()) {
    rows.push_back({ShortId(image.id()), JoinOrNone(image.repo_tags()),
                    JoinOrNone(image.repo_digests()), HumanSize(image.size())});
  }
  PrintSafeTable(rows, io.out);
  return kExitOk;
}

// ImageStatus of `image`; the response has no image when the runtime has none.
grpc::Status Status(const CriConnection& c, const std::string& image, bool verbose,
                    rt::ImageStatusResponse* response) {
  auto stub = rt::ImageService::NewStub(c.channel);
  grpc::ClientContext ctx;
  c.Prepare(ctx);
  rt::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  request.set_verbose(verbose);
  return stub->ImageStatus(&ctx, request, response);
}

int NotFound(Io io, const CriConnection& c, const std::string& image) {
  io.err << "layerseal " << c.command << ": image not found: " << TerminalSafe(image) << "\n";
  return kExitDenied;
}

int Inspecti(const Args& args, Io io) {
  Parsed p;
  if (auto done = Parse(args, io, {}, kInspectiUsage, "cri inspecti", 1, kCriDefaultTimeout, p)) {
    return *done;
  }
  const std::string& image = p.flags.positional()[0];
  rt::ImageStatusResponse response;
  grpc::Status s = Status(p.connection, image, true, &response);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  if (!response.has_image()) return NotFound(io, p.connection, image);
  ordered_json out = ordered_json::parse(ToJson(response, false), nullptr, false);
  if (out.is_discarded()) out = ordered_json::object();
  if (out.contains("info") && out["info"].is_object()) {
    for (auto& [key, value] : out["info"].items()) {
      if (!value.is_string()) continue;
      ordered_json parsed = ordered_json::parse(value.get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) value = parsed;
    }
  }
  io.out << JsonTerminalSafe(out.dump(2, ' ', false, ordered_json::error_handler_t::replace))
         << "\n";
  return kExitOk;
}

int Rmi(const Args& args, Io io) {
  Parsed p;
  if (auto done = Parse(args, io, {}, kRmiUsage, "cri rmi", 1, kCriDefaultTimeout, p)) return *done;
  const std::string& image = p.flags.positional()[0];
  // The runtime removes an absent image without complaint; people want to hear of a typo.
  rt::ImageStatusResponse status;
  grpc::Status s = Status(p.connection, image, false, &status);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  if (!status.has_image()) return NotFound(io, p.connection, image);
  auto stub = rt::ImageService::NewStub(p.connection.channel);
  grpc::ClientContext ctx;
  p.connection.Prepare(ctx);
  rt::RemoveImageRequest request;
  request.mutable_image()->set_image(image);
  rt::RemoveImageResponse response;
  s = stub->RemoveImage(&ctx, request, &response);
  if (!s.ok()) return RuntimeError(io, p.connection, s);
  io.out << "Deleted: " << TerminalSafe(image) << " (" << TerminalSafe(status.image().id()) << ")\n";
  return kExitOk;
}

}  // namespace

int Cri(const Args& args, Io io) {
  if (args.empty()) {
    io.err << kCriUsage;
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    io.out << kCriUsage << "\n" << kConnectionFlagsHelp;
    return kExitOk;
  }
  Args rest(args.begin() + 1, args.end());
  if (args[0] == "version") return Version(rest, io);
  if (args[0] == "pull") return Pull(rest, io);
  if (args[0] == "images") return Images(rest, io);
  if (args[0] == "inspecti") return Inspecti(rest, io);
  if (args[0] == "rmi") return Rmi(rest, io);
  if (args[0] == "scrub") return CriScrub(rest, io);  // cli/cri_scrub.cc (issue 18)
  io.err << "layerseal cri: unknown command \"" << args[0] << "\"\n\n" << kCriUsage;
  return kExitUsage;
}

}  // namespace layerseal::cli
