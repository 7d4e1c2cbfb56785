#include "verifier/fetch_group.h"

#include <utility>

namespace layerseal {

FetchGroup::FetchGroup(size_t max_parallel) : max_parallel_(max_parallel == 0 ? 1 : max_parallel) {}

FetchGroup::~FetchGroup() { Wait(); }

void FetchGroup::Add(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  // A worker takes tasks until the queue is empty; start one more while under the bound.
  if (workers_ < max_parallel_ && workers_ < queue_.size() + running_) {
    ++workers_;
    threads_.emplace_back([this] { Work(); });
  }
}

void FetchGroup::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!queue_.empty()) {
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    task = nullptr;  // captures released outside the lock
    lock.lock();
    --running_;
  }
  --workers_;
  idle_.notify_all();
}

void FetchGroup::Wait() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return workers_ == 0; });
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace layerseal
