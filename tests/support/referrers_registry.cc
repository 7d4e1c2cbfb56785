#include "tests/support/referrers_registry.h"

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/manifest.h"

namespace layerseal::testing {
namespace {

constexpr char kEmptyConfigType[] = "application/vnd.oci.empty.v1+json";

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];  // '+' stays: media types hold it, and clients percent-encode it anyway
    }
  }
  return out;
}

// The value of query parameter `name` in `target` ("/path?a=b&c=d"), decoded; empty if absent.
std::string QueryParam(const std::string& target, const std::string& name) {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  std::string_view query = std::string_view(target).substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

}  // namespace

TestImage MakeReferrerArtifact(const nlohmann::ordered_json& subject,
                               const std::string& artifact_type,
                               const std::string& layer_media_type, std::string layer_bytes,
                               const std::map<std::string, std::string>& annotations) {
  TestImage image;
  image.media_type = std::string(kOciManifest);
  nlohmann::ordered_json m;
  m["schemaVersion"] = 2;
  m["mediaType"] = image.media_type;
  m["artifactType"] = artifact_type;
  m["config"] = AddBlob(image, kEmptyConfigType, "{}");
  m["layers"] = nlohmann::ordered_json::array({AddBlob(image, layer_media_type, std::move(layer_bytes))});
  m["subject"] = subject;
  if (!annotations.empty()) {
    nlohmann::ordered_json a = nlohmann::ordered_json::object();
    for (const auto& [k, v] : annotations) a[k] = v;
    m["annotations"] = a;
  }
  SetManifest(image, m.dump());
  return image;
}

absl::StatusOr<std::unique_ptr<ReferrersRegistry>> ReferrersRegistry::Start(HostileOptions options) {
  absl::StatusOr<std::unique_ptr<HostileRegistry>> server = HostileRegistry::Start(std::move(options));
  if (!server.ok()) return server.status();
  std::unique_ptr<ReferrersRegistry> r(new ReferrersRegistry(*std::move(server)));
  ReferrersRegistry* self = r.get();
  r->server_->HandleOthers([self](const HostileRequest& request, HostileConnection& conn) {
    self->Serve(request, conn);
  });
  return r;
}

void ReferrersRegistry::AddReferrer(const std::string& repository, const Digest& subject,
                                    const TestImage& artifact, const std::string& artifact_type,
                                    const std::map<std::string, std::string>& annotations) {
  server_->AddImage(repository, "", artifact);
  nlohmann::ordered_json d;
  d["mediaType"] = artifact.media_type;
  d["digest"] = artifact.digest.str();
  d["size"] = artifact.manifest.size();
  d["artifactType"] = artifact_type;
  if (!annotations.empty()) {
    nlohmann::ordered_json a = nlohmann::ordered_json::object();
    for (const auto& [k, v] : annotations) a[k] = v;
    d["annotations"] = a;
  }
  std::lock_guard<std::mutex> lock(mu_);
  referrers_[StrCat(repository, "@", subject.str())].push_back({d.dump(), artifact_type});
}

void ReferrersRegistry::SetPageSize(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  page_size_ = n;
}

void ReferrersRegistry::SetFiltering(bool apply) {
  std::lock_guard<std::mutex> lock(mu_);
  filtering_ = apply;
}

size_t ReferrersRegistry::ReferrersRequests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void ReferrersRegistry::AcceptPushes() {
  std::lock_guard<std::mutex> lock(mu_);
  accept_pushes_ = true;
}

bool ReferrersRegistry::ServePush(const HostileRequest& request, HostileConnection& conn) {
  static constexpr std::string_view kUploads = "/blobs/uploads/";
  static constexpr std::string_view kManifests = "/manifests/";
  const std::string& path = request.path;
  if (path.rfind("/v2/", 0) != 0) return false;
  auto error = [&](int status, std::string_view code, std::string_view message) {
    conn.Respond(status, {"Content-Type: application/json"},
                 StrCat(R"({"errors":[{"code":")", code, R"(","message":")", message, R"("}]})"));
  };
  if (size_t at = path.find(kUploads); at != std::string::npos) {
    std::string repository = path.substr(4, at - 4);
    if (request.method == "POST" && at + kUploads.size() == path.size()) {
      size_t id;
      {
        std::lock_guard<std::mutex> lock(mu_);
        id = ++uploads_;
      }
      conn.Respond(202, {StrCat("Location: /v2/", repository, "/blobs/uploads/", id),
                         StrCat("Docker-Upload-UUID: ", id), "Range: 0-0"},
                   "");
      return true;
    }
    if (request.method == "PUT") {
      absl::StatusOr<Digest> digest = Digest::Parse(QueryParam(request.target, "digest"));
      if (!digest.ok() || !digest->Matches(request.body)) {
        error(400, "DIGEST_INVALID", "the upload's digest is not its content's");
        return true;
      }
      server_->AddBlob(repository, digest->str(), request.body);
      conn.Respond(201, {StrCat("Location: /v2/", repository, "/blobs/", digest->str()),
                         StrCat("Docker-Content-Digest: ", digest->str())},
                   "");
      return true;
    }
    return false;
  }
  size_t at = path.rfind(kManifests);
  if (request.method != "PUT" || at == std::string::npos) return false;
  std::string repository = path.substr(4, at - 4);
  std::string reference = path.substr(at + kManifests.size());
  TestImage pushed;
  pushed.media_type = request.Header("content-type");
  pushed.manifest = request.body;
  pushed.digest = Digest::Sha256Of(request.body);
  const bool by_digest = Digest::Parse(reference).ok();
  if (by_digest && reference != pushed.digest.str()) {
    error(400, "DIGEST_INVALID", "the manifest's digest is not the reference's");
    return true;
  }
  nlohmann::json m = nlohmann::json::parse(request.body, nullptr, false);
  if (!m.is_object()) {
    error(400, "MANIFEST_INVALID", "not a JSON object");
    return true;
  }
  std::vector<std::string> headers = {StrCat("Location: /v2/", repository, "/manifests/", pushed.digest.str()),
                                      StrCat("Docker-Content-Digest: ", pushed.digest.str())};
  auto subject = m.find("subject");
  absl::StatusOr<Digest> subject_digest = absl::InvalidArgumentError("no subject");
  if (subject != m.end() && subject->is_object() && subject->contains("digest") &&
      (*subject)["digest"].is_string()) {
    subject_digest = Digest::Parse((*subject)["digest"].get<std::string>());
  }
  if (subject_digest.ok()) {
    std::string artifact_type = m.value("artifactType", "");
    if (artifact_type.empty() && m.contains("config") && m["config"].is_object()) {
      artifact_type = m["config"].value("mediaType", "");
    }
    std::map<std::string, std::string> annotations;
    if (m.contains("annotations") && m["annotations"].is_object()) {
      for (const auto& [k, v] : m["annotations"].items()) {
        if (v.is_string()) annotations[k] = v.get<std::string>();
      }
    }
    AddReferrer(repository, *subject_digest, pushed, artifact_type, annotations);
    headers.push_back(StrCat("OCI-Subject: ", subject_digest->str()));
  }
  server_->AddImage(repository, by_digest ? "" : reference, pushed);
  conn.Respond(201, headers, "");
  return true;
}

void ReferrersRegistry::Serve(const HostileRequest& request, HostileConnection& conn) {
  static constexpr std::string_view kMarker = "/referrers/";
  bool pushes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pushes = accept_pushes_;
  }
  if (pushes && request.method != "GET" && request.method != "HEAD" && ServePush(request, conn)) return;
  size_t at = request.path.find(kMarker);
  if (request.path.rfind("/v2/", 0) != 0 || at == std::string::npos || request.method != "GET") {
    server_->ServeDefault(request, conn);
    return;
  }
  std::string repository = request.path.substr(4, at - 4);
  std::string subject = request.path.substr(at + kMarker.size());
  if (!Digest::Parse(subject).ok()) {
    conn.Respond(400, {"Content-Type: application/json"},
                 R"({"errors":[{"code":"DIGEST_INVALID","message":"bad digest"}]})");
    return;
  }
  std::string artifact_type = QueryParam(request.target, "artifactType");
  size_t page = static_cast<size_t>(std::strtoul(QueryParam(request.target, "page").c_str(), nullptr, 10));
  std::vector<std::string> listed;
  bool filtered = false;
  size_t page_size = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    filtered = filtering_ && !artifact_type.empty();
    page_size = page_size_;
    for (const Entry& e : referrers_[StrCat(repository, "@", subject)]) {
      if (filtered && e.artifact_type != artifact_type) continue;
      listed.push_back(e.descriptor);
    }
  }
  size_t begin = 0, end = listed.size();
  bool more = false;
  if (page_size > 0) {
    begin = std::min(listed.size(), page * page_size);
    end = std::min(listed.size(), begin + page_size);
    more = end < listed.size();
  }
  std::string body = StrCat(R"({"schemaVersion":2,"mediaType":")", kOciIndex, R"(","manifests":[)");
  for (size_t i = begin; i < end; ++i) body += StrCat(i == begin ? "" : ",", listed[i]);
  body += "]}";
  std::vector<std::string> headers = {StrCat("Content-Type: ", kOciIndex)};
  if (filtered) headers.push_back("OCI-Filters-Applied: artifactType");
  if (more) {
    std::string next = StrCat(request.path, "?page=", page + 1);
    if (!artifact_type.empty()) {
      next += "&artifactType=";
      for (char c : artifact_type) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') {
          next += c;
        } else {
          static constexpr char kHex[] = "0123456789ABCDEF";
          next += '%';
          next += kHex[static_cast<unsigned char>(c) >> 4];
          next += kHex[static_cast<unsigned char>(c) & 15];
        }
      }
    }
    headers.push_back(StrCat("Link: <", next, ">; rel=\"next\""));
  }
  conn.Respond(200, headers, body);
}

}  // namespace layerseal::testing
