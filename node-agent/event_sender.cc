#include "node-agent/event_sender.h"

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/status_code.h"
#include "base/str_cat.h"

namespace layerseal::agent {
namespace {

// PEM files are small; anything larger is not one (RESOURCE_EXHAUSTED, base/file.h).
constexpr size_t kMaxPemBytes = 1 << 20;

absl::StatusOr<std::string> CommonName(const std::string& pem, const std::string& path) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(StrCat("controller certificate ", path,
                                             " holds no PEM certificate"));
  }
  char cn[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_free(cert);
  if (n <= 0) {
    return absl::InvalidArgumentError(StrCat("controller certificate ", path,
                                             " has no common name"));
  }
  return std::string(cn, static_cast<size_t>(n));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ControllerCredentials(
    const std::string& ca, const std::string& cert, const std::string& key,
    const std::string& node) {
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "controller is set but controllerCert or controllerKey is not: the controller takes "
        "events only over mutual TLS");
  }
  grpc::SslCredentialsOptions tls;
  if (!ca.empty()) {
    absl::StatusOr<std::string> roots = ReadFileLimited(ca, kMaxPemBytes, "controller CA");
    if (!roots.ok()) return roots.status();
    tls.pem_root_certs = *roots;
  }
  absl::StatusOr<std::string> chain = ReadFileLimited(cert, kMaxPemBytes, "controller certificate");
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> private_key = ReadFileLimited(key, kMaxPemBytes, "controller key");
  if (!private_key.ok()) return private_key.status();
  absl::StatusOr<std::string> cn = CommonName(*chain, cert);
  if (!cn.ok()) return cn.status();
  if (*cn != node) {
    return absl::InvalidArgumentError(StrCat(
        "controller certificate ", cert, " is for node \"", *cn, "\" but this agent is node \"",
        node, "\": the controller would refuse its events (set nodeName or use this node's "
        "certificate)"));
  }
  tls.pem_cert_chain = *chain;
  tls.pem_private_key = *private_key;
  return grpc::SslCredentials(tls);
}

EventSender::EventSender(EventSenderOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EventSender>> EventSender::Start(EventSenderOptions options) {
  if (options.spool == nullptr) return absl::InvalidArgumentError("event sender: no spool");
  if (options.target.empty()) return absl::InvalidArgumentError("event sender: no controller");
  if (options.credentials == nullptr) {
    return absl::InvalidArgumentError("event sender: no channel credentials");
  }
  std::unique_ptr<EventSender> sender(new EventSender(std::move(options)));
  const EventSenderOptions& o = sender->options_;
  grpc::ChannelArguments args;
  if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
  // gRPC's own reconnect backoff grows to 120 s by default; keep it within ours so that a
  // controller that is back is found at our next try.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(o.max_backoff)));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(o.min_backoff)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(o.min_backoff)));
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, StrCat("layerseal-agent/", o.agent_version));
  sender->stub_ = v1::EventIngest::NewStub(grpc::CreateCustomChannel(o.target, o.credentials, args));
  sender->thread_ = std::thread([s = sender.get()] { s->Run(); });
  return sender;
}

EventSender::~EventSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void EventSender::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_one();
}

bool EventSender::Wait(absl::Duration d, bool wakeable) {
  std::unique_lock<std::mutex> lock(mu_);
  // wait_for runs on steady_clock: a stepped wall clock neither stretches nor cuts it.
  cv_.wait_for(lock, absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration())),
               [&] { return stopping_ || (wakeable && woken_); });
  return !stopping_;
}

grpc::Status EventSender::Send(const std::vector<v1::Event>& events,
                               v1::ReportEventsResponse* response) {
  v1::ReportEventsRequest request;
  request.set_node(options_.node);
  for (const v1::Event& e : events) *request.add_events() = e;
  SpoolStats spool = options_.spool->stats();
  v1::AgentStatus* status = request.mutable_status();
  status->set_agent_version(options_.agent_version);
  if (options_.policy_version) status->set_policy_version(options_.policy_version());
  status->set_spool_backlog(spool.backlog);
  status->set_events_lost(spool.lost);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return grpc::Status(grpc::StatusCode::CANCELLED, "the agent is stopping");
    in_flight_ = &context;
  }
  grpc::Status result = stub_->ReportEvents(&context, request, response);
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ = nullptr;
  return result;
}

void EventSender::OnFailure(const grpc::Status& status, size_t events, absl::Duration retry_in) {
  ++failures_;
  if (options_.on_batch) options_.on_batch("error");
  if (options_.logger == nullptr) return;
  nlohmann::json fields = {{"controller", options_.target},
                           {"code", StatusCodeName(static_cast<int>(status.error_code()))},
                           {"error", status.error_message()},
                           {"events", events},
                           {"failures", failures_},
                           {"retry_in_s", absl::ToDoubleSeconds(retry_in)}};
  grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::INVALID_ARGUMENT) {
    options_.logger->Error("the controller refuses this agent's events; they stay in the spool "
                           "until it takes them (check the certificate and nodeName)",
                           fields);
  } else if ((failures_ & (failures_ - 1)) == 0) {  // 1st, 2nd, 4th, 8th ... in a row
    options_.logger->Warn("cannot deliver events to the controller; they stay in the spool",
                          fields);
  }
}

void EventSender::ReportRefusedPackages(const v1::ReportEventsResponse& response) {
  if (options_.on_packages_refused) options_.on_packages_refused(response.packages_refused());
  if (options_.logger == nullptr) return;
  std::vector<std::string> errors;
  for (int i = 0; i < response.packages_errors_size() && i < 20; ++i) {
    errors.push_back(response.packages_errors(i));
  }
  options_.logger->Error("the controller refused package inventories (issue 18); their events "
                         "were stored without them",
                         {{"controller", options_.target},
                          {"refused", response.packages_refused()},
                          {"errors", nlohmann::json(errors)}});
}

void EventSender::Run() {
  // Full jitter in the upper half: agents that lost the controller together do not all come
  // back at once. (Wall time only seeds the jitter.)
  Backoff backoff({options_.min_backoff, options_.max_backoff, /*jitter=*/true},
                  static_cast<uint32_t>(absl::ToUnixNanos(absl::Now())));
  // On the monotonic clock, like every wait here (base/clock.h).
  const Clock& clock = SystemClock();
  absl::Duration next_heartbeat = clock.Monotonic();  // say hello at once
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      woken_ = false;  // an append from now on wakes the wait below
    }
    absl::StatusOr<std::vector<v1::Event>> batch =
        options_.spool->Unacked(kMaxBatchEvents, kMaxBatchBytes);
    if (!batch.ok()) {
      if (options_.logger != nullptr) {
        options_.logger->Error("cannot read the event spool",
                               {{"error", std::string(Sv(batch.status().message()))}});
      }
      if (!Wait(options_.max_backoff, false)) return;
      continue;
    }
    if (batch->empty() && clock.Monotonic() < next_heartbeat) {
      if (!Wait(next_heartbeat - clock.Monotonic(), true)) return;
      continue;
    }
    v1::ReportEventsResponse response;
    grpc::Status sent = Send(*batch, &response);
    if (sent.ok()) {
      if (response.packages_refused() > 0) ReportRefusedPackages(response);
      if (failures_ > 0 && options_.logger != nullptr) {
        options_.logger->Info("delivering events to the controller again",
                              {{"controller", options_.target}, {"failures", failures_}});
      }
      failures_ = 0;
      backoff.Reset();
      next_heartbeat = clock.Monotonic() + options_.heartbeat;
      if (options_.on_batch) options_.on_batch("ok");
      if (batch->empty()) continue;
      absl::Status acked = options_.spool->Ack(batch->back().seq());
      if (acked.ok()) continue;
      // Sent but not recorded as acknowledged: they will be sent again (the controller
      // keeps each once).
      if (options_.logger != nullptr) {
        options_.logger->Error("cannot record delivered events in the spool",
                               {{"error", std::string(Sv(acked.message()))}});
      }
      if (!Wait(options_.max_backoff, false)) return;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    grpc::StatusCode code = sent.error_code();
    bool refused =
        code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::INVALID_ARGUMENT;
    absl::Duration delay = refused ? options_.max_backoff : backoff.Next();
    OnFailure(sent, batch->size(), delay);
    if (!Wait(delay, false)) return;
  }
}

}  // namespace layerseal::agent
