#include "node-agent/integrity_state.h"

namespace layerseal::agent {

void IntegrityState::Remember(const Digest& image, const std::string& fingerprint,
                              const Verdict& verdict) {
  if (max_results_ == 0) return;
  absl::MutexLock lock(&mu_);
  Key key{image.str(), fingerprint};
  if (auto it = results_.find(key); it != results_.end()) {
    order_.erase(it->second.order);
    results_.erase(it);
  }
  while (results_.size() >= max_results_ && !order_.empty()) {
    results_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  results_.emplace(key, Entry{verdict, std::prev(order_.end())});
}

std::optional<Verdict> IntegrityState::Lookup(const Digest& image,
                                              const std::string& fingerprint) const {
  absl::MutexLock lock(&mu_);
  auto it = results_.find(Key{image.str(), fingerprint});
  if (it == results_.end()) return std::nullopt;
  return it->second.verdict;
}

bool IntegrityState::MarkCorrupt(const Digest& image, const std::string& detail,
                                 absl::Time when) {
  absl::MutexLock lock(&mu_);
  std::string key = image.str();
  if (auto it = corrupt_.find(key); it != corrupt_.end()) {
    it->second = Corruption{detail, when};
    return true;
  }
  if (corrupt_.size() >= kMaxCorruptImages) return false;
  corrupt_.emplace(std::move(key), Corruption{detail, when});
  return true;
}

std::optional<IntegrityState::Corruption> IntegrityState::Corrupt(const Digest& image) const {
  absl::MutexLock lock(&mu_);
  auto it = corrupt_.find(image.str());
  if (it == corrupt_.end()) return std::nullopt;
  return it->second;
}

void IntegrityState::Forget(const Digest& image) {
  absl::MutexLock lock(&mu_);
  const std::string digest = image.str();
  corrupt_.erase(digest);
  for (auto it = results_.lower_bound(Key{digest, ""});
       it != results_.end() && it->first.first == digest;) {
    order_.erase(it->second.order);
    it = results_.erase(it);
  }
}

size_t IntegrityState::results() const {
  absl::MutexLock lock(&mu_);
  return results_.size();
}

size_t IntegrityState::corrupt_images() const {
  absl::MutexLock lock(&mu_);
  return corrupt_.size();
}

}  // namespace layerseal::agent
