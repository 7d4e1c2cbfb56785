// Runs a verification's independent registry requests concurrently (issue 17 "Speed"): after
// the manifest, the seal blobs, the config and the cosign lookups are all in flight at once,
// so a verification costs round trips, not the sum of its GETs.
//
// Thread-safety: Add() and Wait() are called from the owning thread only; tasks run on
// threads of their own, at most `max_parallel` at once, and must be thread-safe with respect
// to each other (each writes only its own result slot; ImageSource implementations used with
// a FetchGroup must allow concurrent calls, as registry::RegistryClient does).
// Ownership: a task's captures must outlive Wait() (or the destructor, which waits).
#ifndef LAYERSEAL_VERIFIER_FETCH_GROUP_H_
#define LAYERSEAL_VERIFIER_FETCH_GROUP_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace layerseal {

// Requests of one verification in flight at once: bounds the threads and connections a
// verification (or a hostile image with 1,000 referrers) can take.
inline constexpr size_t kMaxParallelFetches = 8;

class FetchGroup {
 public:
  // max_parallel 0 is taken as 1 (tasks then run one after another, on one worker thread).
  explicit FetchGroup(size_t max_parallel = kMaxParallelFetches);
  ~FetchGroup();  // Wait()s
  FetchGroup(const FetchGroup&) = delete;
  FetchGroup& operator=(const FetchGroup&) = delete;

  // Queues `task`; it starts at once when fewer than max_parallel tasks run, else when one
  // ends. Tasks are started in the order they were added.
  void Add(std::function<void()> task);
  // Returns when every task added so far has finished. The group can be used again after.
  void Wait();

 private:
  void Work();

  const size_t max_parallel_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t running_ = 0;                       // tasks started and not finished; guarded by mu_
  size_t workers_ = 0;                       // worker threads alive; guarded by mu_
  std::vector<std::thread> threads_;         // owning thread only
};

}  // namespace layerseal

#endif  // LAYERSEAL_VERIFIER_FETCH_GROUP_H_
