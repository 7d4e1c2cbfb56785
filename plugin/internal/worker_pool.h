// A fixed set of threads draining a bounded FIFO queue: the gates' blocking work (registry
// I/O, the gate's own runtime calls) runs here, never on the proxy's completion-queue
// threads.
// Thread-safety: Submit may be called from any thread. The destructor runs what is queued,
// then joins.
#ifndef LAYERSEAL_PLUGIN_INTERNAL_WORKER_POOL_H_
#define LAYERSEAL_PLUGIN_INTERNAL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace layerseal::plugin::internal {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` is not run) when max_queued tasks are already waiting.
  bool Submit(std::function<void()> task);

 private:
  void Loop();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace layerseal::plugin::internal

#endif  // LAYERSEAL_PLUGIN_INTERNAL_WORKER_POOL_H_
