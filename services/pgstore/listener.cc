#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "pgsql/session.h"
#include "pgstore/pg_store.h"

namespace grove::pgstore {

namespace {

// Collects the workspace ids notified on the channel; LISTENs when constructed.
class Receiver final : public pqxx::notification_receiver {
 public:
  explicit Receiver(pqxx::connection_base& conn)
      : pqxx::notification_receiver(conn, "grove_deltas") {}

  void operator()(const std::string& payload, int) override {
    std::optional<Bytes> raw = HexDecode(payload);
    if (!raw) return;  // anyone may NOTIFY the channel: only our payloads count
    if (std::optional<Hash32> ws = ToHash32(*raw)) notified_.insert(*ws);
  }

  std::vector<store::WorkspaceId> Take() {
    std::vector<store::WorkspaceId> out(notified_.begin(), notified_.end());
    notified_.clear();
    return out;
  }

 private:
  std::set<store::WorkspaceId> notified_;
};

}  // namespace

struct Listener::Impl {
  explicit Impl(pgsql::Target target) : session(std::move(target)) {}

  pgsql::Session session;
  std::unique_ptr<Receiver> receiver;  // destroyed first: it UNLISTENs on the connection
  bool dead = false;

  Status Lost(const std::string& why) {
    dead = true;
    receiver.reset();
    session.Drop();
    return Unavailable("listening for new deltas: lost the connection (PostgreSQL at " +
                       session.target().where + "): " + why);
  }
};

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

Result<std::unique_ptr<Listener>> Listener::Open(const Options& options) {
  GROVE_ASSIGN_OR_RETURN(pgsql::Target target,
                         pgsql::ParseTarget(options.url, options.connect_timeout_s, "grove-relay"));
  auto impl = std::make_unique<Impl>(std::move(target));
  GROVE_RETURN_IF_ERROR(impl->session.Connect());
  try {
    impl->receiver = std::make_unique<Receiver>(impl->session.conn());
  } catch (const std::exception& e) {
    return Unavailable("LISTEN grove_deltas on PostgreSQL at " + impl->session.target().where +
                       ": " + pgsql::CleanMessage(e.what(), impl->session.target()));
  }
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Result<std::vector<store::WorkspaceId>> Listener::Wait(int timeout_ms) {
  Impl& d = *impl_;
  if (d.dead) return d.Lost("it was lost earlier; open a new Listener");
  pqxx::connection& conn = d.session.conn();
  try {
    // What libpq has already read (a previous call, or the LISTEN's reply) comes first.
    conn.get_notifs();
    std::vector<store::WorkspaceId> out = d.receiver->Take();
    if (!out.empty() || timeout_ms <= 0) {
      if (!conn.is_open()) return d.Lost("the server closed it");
      return out;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{conn.sock(), POLLIN, 0};
      if (pfd.fd < 0) return d.Lost("no socket");
      const int n = poll(&pfd, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return d.Lost(std::string("poll: ") + std::strerror(errno));
      if (n == 0) break;
      // Readable: a notification, or the end of the connection (which get_notifs reports). Other
      // traffic (a parameter status, a notice) wakes us without a notification: wait on.
      conn.get_notifs();
      if (!conn.is_open()) return d.Lost("the server closed it");
      out = d.receiver->Take();
      if (!out.empty()) return out;
    }
    if (!conn.is_open()) return d.Lost("the server closed it");
    return out;
  } catch (const std::exception& e) {
    return d.Lost(pgsql::CleanMessage(e.what(), d.session.target()));
  }
}

}  // namespace grove::pgstore
