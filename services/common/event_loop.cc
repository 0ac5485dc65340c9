#include "common/event_loop.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace grove {

EventLoop::EventLoop() : thread_([this] { Run(); }) {}

EventLoop::~EventLoop() { Stop(); }

void EventLoop::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

uint64_t EventLoop::PostAfter(int64_t delay_ms, Task task) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_timer_++;
    timers_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms),
                    std::make_pair(id, std::move(task)));
  }
  wake_.notify_one();
  return id;
}

void EventLoop::Cancel(uint64_t timer) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == timer) {
      timers_.erase(it);
      return;
    }
  }
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && !InLoop()) thread_.join();
}

void EventLoop::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      tasks_.push_back(std::move(timers_.begin()->second.second));
      timers_.erase(timers_.begin());
    }
    if (!tasks_.empty()) {
      Task task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      try {
        task();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "grove-peer: a task on the event loop threw: %s\n", e.what());
        std::abort();
      }
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (timers_.empty()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, timers_.begin()->first);
    }
  }
}

}  // namespace grove
