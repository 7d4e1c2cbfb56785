// An in-memory ImageSource for unit tests of the verifier. It keeps the registry client's
// contract (image_source.h): limits are ResourceExhausted, digest mismatches DataLoss, a
// missing tag NotFound, no referrers API Unimplemented.
// Thread-safety: the fetch methods may be called concurrently (the verifier fetches in
// parallel, verifier/fetch_group.h); set it up (Add, Put*) before verifying.
#ifndef LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_
#define LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "absl/time/time.h"
#include "tests/support/images.h"
#include "verifier/image_source.h"
#include "base/str_cat.h"

namespace layerseal::testing {

class FakeSource : public ImageSource {
 public:
  // Registers `image` under repo:tag and repo@digest, with its blobs and children.
  void Add(const Reference& ref, const TestImage& image) {
    PutManifest(ref.Name(), ref.tag.empty() ? "latest" : ref.tag, image.media_type, image.manifest);
    PutManifest(ref.Name(), image.digest.str(), image.media_type, image.manifest);
    for (const auto& [d, m] : image.children) PutManifest(ref.Name(), d, m.media_type, m.bytes);
    for (const auto& [d, b] : image.blobs) blobs_[d] = b;
  }
  void PutManifest(const std::string& name, const std::string& id, std::string content_type,
                   std::string bytes) {
    manifests_[name + "@" + id] = {std::move(content_type), std::move(bytes)};
  }
  // Serve `bytes` for blob `digest` whatever they hash to (a lying registry).
  void PutRawBlob(const std::string& digest, std::string bytes) { raw_blobs_[digest] = std::move(bytes); }
  void PutBlob(std::string bytes) { blobs_[Digest::Sha256Of(bytes).str()] = std::move(bytes); }
  // The referrers API answer (an OCI index) for `subject` in repository `name`; with any
  // referrers put, the source has a referrers API (an empty index for other subjects).
  void PutReferrers(const std::string& name, const Digest& subject, std::string index) {
    referrers_[name + "@" + subject.str()] = std::move(index);
  }
  // Every fetch takes at least `d` (to see fetches overlap); with `jitter_seed` non-zero,
  // between `d` and 4 `d`, varying by what is fetched and the seed (to vary the order in
  // which concurrent fetches finish).
  void SetLatency(absl::Duration d, unsigned jitter_seed = 0) {
    latency_ = d;
    jitter_seed_ = jitter_seed;
  }
  // FetchManifest of `name@id` fails with `status` (a registry failing on that one path).
  void FailManifest(const std::string& name, const std::string& id, absl::Status status) {
    manifest_errors_[name + "@" + id] = std::move(status);
  }
  // "manifest|blob|referrers <name>@<id>" of every fetch so far, in the order they started.
  std::vector<std::string> Requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  absl::StatusOr<FetchedManifest> FetchManifest(const Reference& ref, size_t max_bytes) override {
    ++manifest_fetches;
    InFlight guard(*this, StrCat("manifest ", ref.Name(), "@", ref.Identifier()));
    if (auto e = manifest_errors_.find(ref.Name() + "@" + ref.Identifier()); e != manifest_errors_.end()) {
      return e->second;
    }
    auto it = manifests_.find(ref.Name() + "@" + ref.Identifier());
    if (it == manifests_.end()) return absl::NotFoundError(StrCat("no manifest ", ref.ToString()));
    if (it->second.bytes.size() > max_bytes) {
      return absl::ResourceExhaustedError(StrCat("manifest over ", max_bytes, " bytes"));
    }
    FetchedManifest m{it->second.bytes, it->second.media_type, Digest::Sha256Of(it->second.bytes)};
    if (ref.digest && !(m.digest == *ref.digest)) return absl::DataLossError("manifest digest mismatch");
    return m;
  }

  absl::StatusOr<std::string> FetchBlob(const Reference& repo, const Digest& digest,
                                        size_t max_bytes) override {
    ++blob_fetches;
    InFlight guard(*this, StrCat("blob ", repo.Name(), "@", digest.str()));
    std::string bytes;
    if (auto raw = raw_blobs_.find(digest.str()); raw != raw_blobs_.end()) {
      bytes = raw->second;
    } else if (auto it = blobs_.find(digest.str()); it != blobs_.end()) {
      bytes = it->second;
    } else {
      return absl::NotFoundError(StrCat("no blob ", digest.str()));
    }
    if (bytes.size() > max_bytes) return absl::ResourceExhaustedError(StrCat("blob over ", max_bytes));
    if (!digest.Matches(bytes)) return absl::DataLossError(StrCat("blob ", digest.str(), " digest mismatch"));
    return bytes;
  }

  // With `artifact_type` non-empty, only the put index's entries of that artifactType are
  // answered (the ImageSource contract: a registry that applies the filter, or the client's
  // own filtering); an index that is not JSON is answered as put.
  absl::StatusOr<FetchedManifest> FetchReferrers(const Reference& repo, const Digest& subject,
                                                 std::string_view artifact_type,
                                                 size_t max_bytes) override {
    ++referrers_fetches;
    InFlight guard(*this, StrCat("referrers ", repo.Name(), "@", subject.str()));
    if (referrers_.empty()) return absl::UnimplementedError("no referrers API");
    auto it = referrers_.find(repo.Name() + "@" + subject.str());
    std::string index = it != referrers_.end()
                            ? it->second
                            : R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
    if (!artifact_type.empty()) {
      nlohmann::ordered_json j = nlohmann::ordered_json::parse(index, nullptr, false);
      if (j.is_object() && j.contains("manifests") && j["manifests"].is_array()) {
        nlohmann::ordered_json kept = nlohmann::ordered_json::array();
        for (const auto& d : j["manifests"]) {
          if (d.is_object() && d.value("artifactType", "") == artifact_type) kept.push_back(d);
        }
        j["manifests"] = kept;
        index = j.dump();
      }
    }
    if (index.size() > max_bytes) return absl::ResourceExhaustedError("referrers over max_bytes");
    return FetchedManifest{index, std::string(kOciIndex), Digest::Sha256Of(index)};
  }

  std::atomic<int> manifest_fetches{0};
  std::atomic<int> blob_fetches{0};
  std::atomic<int> referrers_fetches{0};
  std::atomic<int> max_in_flight{0};  // the most fetches that were running at once

 private:
  // Counts a fetch in flight for its lifetime (and waits the latency inside it).
  struct InFlight {
    InFlight(FakeSource& s, std::string what) : s(s) {
      {
        std::lock_guard<std::mutex> lock(s.mu_);
        s.requests_.push_back(what);
      }
      int now = ++s.in_flight_;
      int seen = s.max_in_flight.load();
      while (now > seen && !s.max_in_flight.compare_exchange_weak(seen, now)) {
      }
      if (s.latency_ > absl::ZeroDuration()) {
        int factor = 1;
        if (s.jitter_seed_ != 0) {
          factor += static_cast<int>((std::hash<std::string>()(what) + s.jitter_seed_ * 2654435761u) % 4);
        }
        absl::SleepFor(s.latency_ * factor);
      }
    }
    ~InFlight() { --s.in_flight_; }
    FakeSource& s;
  };

  std::map<std::string, StoredManifest> manifests_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::string> raw_blobs_;
  std::map<std::string, std::string> referrers_;
  std::map<std::string, absl::Status> manifest_errors_;
  absl::Duration latency_ = absl::ZeroDuration();
  unsigned jitter_seed_ = 0;
  std::atomic<int> in_flight_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;  // guarded by mu_
};

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_FAKE_SOURCE_H_
