// EventLoop: the one thread that owns a peer's state (workspaces, sync sessions, timers).
//
// Other threads (network, HTTP workers) never touch that state: they Post() work here, or Call()
// and wait for the answer. Tasks run one at a time in the order posted; timers run when due.
// Post/PostAfter/Call/Stop are thread-safe. A task must not throw (the loop aborts loudly if one
// does: an exception in it is a bug).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace grove {

class EventLoop {
 public:
  using Task = std::function<void()>;

  EventLoop();
  ~EventLoop();  // Stop()s
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Post(Task task);
  // Runs `task` after `delay_ms`; returns an id for Cancel().
  uint64_t PostAfter(int64_t delay_ms, Task task);
  void Cancel(uint64_t timer);
  // Runs fn on the loop and returns its result. REQUIRES: not called from the loop thread.
  template <typename Fn>
  auto Call(Fn fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> job(std::move(fn));
    auto result = job.get_future();
    Post([&job] { job(); });
    return result.get();
  }
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }
  // Runs the tasks already posted, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  std::multimap<std::chrono::steady_clock::time_point, std::pair<uint64_t, Task>> timers_;
  uint64_t next_timer_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace grove
