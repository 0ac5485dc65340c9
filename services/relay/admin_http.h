// relay::AdminHttp — the relay's operations endpoint on its `--admin` address: plain HTTP/1.1
// (Poco's server) for Prometheus and for load balancers and systemd checks.
//
//   GET /metrics   200 Prometheus text (0.0.4)
//   GET /healthz   200 {"status":"ok","database":{"ok":true,"latency_seconds":S}} when the
//                  relay can use its database; 503 {"status":"degraded","database":{"ok":false,
//                  "error":"..."}} when it cannot (it then refuses peers until it can again)
//
//   /api/v1/admin/...   the admin console's REST API (admin/console_api.h), when `api` is set:
//                       each request is read whole (bodies over 1 MiB: 413 without calling it)
//                       and handed to `api`, whose reply is sent as it is
//   /, /console/...     the admin web console's pages (relay/console_files.h), when `api` is set
//
// Anything else is 404 (405 for another method on a known path).
//
// Thread-safety: Start and Stop from any thread; requests run on worker threads and call the
// callbacks concurrently, so they must be thread-safe; metrics and health must not block for
// long (the admin API may: it waits for the database and hashes passwords). Stop (and the
// destructor) returns once no worker runs a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "admin/http_types.h"
#include "common/status.h"

namespace grove::relay {

struct Health {
  bool database_ok = false;
  std::string database_error;  // why not, when !database_ok
  double database_latency_seconds = 0;
};

class AdminHttp {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;  // 0: any free port (see port())
    std::function<std::string()> metrics;
    std::function<Health()> health;
    std::function<admin::HttpReply(const admin::HttpRequest&)> api;  // empty: 404 for /api/
  };
  // IOError naming the address when it cannot be bound.
  static Result<std::unique_ptr<AdminHttp>> Start(Options options);
  ~AdminHttp();
  uint16_t port() const;
  void Stop();

  class Impl;

 private:
  explicit AdminHttp(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The /healthz body for `health` (exposed for tests).
std::string HealthJson(const Health& health);

}  // namespace grove::relay
