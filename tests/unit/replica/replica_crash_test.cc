// kill -9 of a replica on SQLite: "after kill -9 at any moment the store opens consistent and
// holds every acknowledged action", and what was acknowledged also syncs to a peer.
//
// A child process reopens the workspace and performs local actions (Add, Set, CreateRecord, Seal)
// in a loop. Around each call it writes two messages to a pipe: BEGIN before the call, ACK after
// the call returned OK (the acknowledgement). The parent SIGKILLs it at a random moment, drains
// the pipe (everything in it was written before the kill, so it counts) and then reopens the
// store and checks it against what was acknowledged.
//
// Why "acknowledged, or at most one more": the child is single-threaded and performs one action
// at a time; it writes ACK for action n before it writes BEGIN for action n+1. So when it dies,
// at most one action has started without being acknowledged: the one named by a trailing BEGIN.
// That action may have committed (killed after its SQLite transaction, before its ACK) or not
// (killed before or during the transaction). Every other action is either acknowledged or was
// never started. The parent therefore knows exactly which single action is in doubt; with no
// trailing BEGIN the store must match the acknowledgements exactly. The bound is per kill: an
// in-doubt action that did commit is part of the state the next round starts from.
//
// The random choices (kill mode, timing, Seal/Rebuild order) come from a seed printed at the start;
// SEED=n replays them. Timing makes the exact kill point differ between runs regardless.
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/status_assert.h"
#include "support/temp_dir.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::replica {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// The child's actions and its messages to the parent.

enum class Action : uint8_t { kAdd = 1, kSet = 2, kCreate = 3, kSeal = 4 };
enum class Kind : uint8_t { kBegin = 1, kAck = 2 };

const char* ActionName(Action a) {
  switch (a) {
    case Action::kAdd:
      return "Add";
    case Action::kSet:
      return "Set";
    case Action::kCreate:
      return "CreateRecord";
    case Action::kSeal:
      return "Seal";
  }
  return "?";
}

// The action with global sequence number seq (sequence numbers continue across child runs, so
// every note and sku is unique). Roughly: 1 Seal in 50, 1 Set in 7, 1 CreateRecord in 11, the
// rest Add.
Action ActionFor(uint64_t seq) {
  if (seq % 50 == 0) return Action::kSeal;
  if (seq % 7 == 0) return Action::kSet;
  if (seq % 11 == 0) return Action::kCreate;
  return Action::kAdd;
}

std::string NoteFor(uint64_t seq) { return "n" + std::to_string(seq); }
std::string SkuFor(uint64_t seq) { return "p" + std::to_string(seq); }

// One pipe message. Writes of at most PIPE_BUF bytes to a pipe are atomic, so a message is never
// torn by the kill: it is in the pipe entirely or not at all.
struct Message {
  uint64_t seq = 0;
  Kind kind = Kind::kBegin;
  Action action = Action::kAdd;
  // ACK of CreateRecord: the new record's id text. BEGIN/ACK of Set: the note. ACK of Seal:
  // "1" if it sealed a delta, "0" if there was nothing to seal.
  char text[62] = {};
};
static_assert(sizeof(Message) <= PIPE_BUF);

struct Shared {
  std::string db_path;
  WorkspaceId ws_id{};
  RecordId item{};
};

// The child: reopens store and workspace and acts until killed. Never returns into gtest; reports
// failures on stderr and exits with a distinct code (the parent expects death by SIGKILL).
[[noreturn]] void Child(const Shared& shared, const identity::Identity& me, uint64_t first_seq,
                        uint64_t random_seed, int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test runner that died
  alarm(20);                         // backstop should the parent never kill us
  auto send = [&](uint64_t seq, Kind kind, Action action, const std::string& text) {
    Message m;
    m.seq = seq;
    m.kind = kind;
    m.action = action;
    std::snprintf(m.text, sizeof m.text, "%s", text.c_str());
    if (write(fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) _exit(5);
  };
  auto fail = [](int code, uint64_t seq, const char* what, const Status& s) {
    std::fprintf(stderr, "crash child: action %llu (%s): %s\n",
                 static_cast<unsigned long long>(seq), what, s.ToString().c_str());
    _exit(code);
  };
  SystemClock clock;
  SeededRandom random(random_seed);
  auto store = store::OpenSqliteStore(shared.db_path, {});
  if (!store.ok()) fail(2, 0, "OpenSqliteStore", store.status());
  auto ws = Workspace::Open(me, shared.ws_id, **store, clock, random);
  if (!ws.ok()) fail(3, 0, "Workspace::Open", ws.status());
  Workspace& w = **ws;
  for (uint64_t seq = first_seq;; ++seq) {
    const Action action = ActionFor(seq);
    const char* name = ActionName(action);
    switch (action) {
      case Action::kAdd: {
        send(seq, Kind::kBegin, action, "");
        Status s = w.Add(shared.item, "stock", 1);
        if (!s.ok()) fail(4, seq, name, s);
        send(seq, Kind::kAck, action, "");
        break;
      }
      case Action::kSet: {
        send(seq, Kind::kBegin, action, NoteFor(seq));
        Status s = w.Set(shared.item, "note", Value(NoteFor(seq)));
        if (!s.ok()) fail(4, seq, name, s);
        send(seq, Kind::kAck, action, NoteFor(seq));
        break;
      }
      case Action::kCreate: {
        send(seq, Kind::kBegin, action, "");
        auto id = w.CreateRecord("part", {{"sku", Value(SkuFor(seq))}});
        if (!id.ok()) fail(4, seq, name, id.status());
        send(seq, Kind::kAck, action, id->Text());
        break;
      }
      case Action::kSeal: {
        send(seq, Kind::kBegin, action, "");
        auto sealed = w.Seal();
        if (!sealed.ok()) fail(4, seq, name, sealed.status());
        send(seq, Kind::kAck, action, *sealed ? "1" : "0");
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The parent's view: what the store must hold.

// Known exactly after each verification (the in-doubt action is resolved by looking).
struct Model {
  uint64_t next_seq = 1;
  int64_t stock = 0;
  size_t parts = 0;
  std::optional<std::string> note;
  uint64_t own_head = 0;                                  // seq of this device's last delta
  size_t pending = 0;                                     // pending actions when the child starts
  std::vector<std::pair<uint64_t, std::string>> created;  // acknowledged CreateRecord: seq, id
  uint64_t acked_adds_total = 0;
};

// What one child run acknowledged, from its messages.
struct RunLog {
  explicit RunLog(const Model& model)
      : next_seq(model.next_seq), note(model.note), pending(model.pending) {}

  uint64_t next_seq;  // of the next BEGIN
  uint64_t messages = 0;
  uint64_t adds = 0, sets = 0, creates = 0, seals = 0, empty_seals = 0;
  std::optional<std::string> note;  // after the acknowledged Sets
  size_t pending;                   // after the acknowledged actions
  std::vector<std::pair<uint64_t, std::string>> created;
  std::optional<Message> in_doubt;  // a BEGIN without its ACK

  void Take(const Message& m) {
    ++messages;
    std::string text(m.text, strnlen(m.text, sizeof m.text));
    if (m.kind == Kind::kBegin) {
      EXPECT_FALSE(in_doubt.has_value())
          << "BEGIN " << m.seq << " while " << in_doubt->seq << " was not acknowledged";
      EXPECT_EQ(m.seq, next_seq) << "BEGIN out of sequence";
      EXPECT_EQ(m.action, ActionFor(m.seq)) << "seq " << m.seq;
      in_doubt = m;
      return;
    }
    ASSERT_EQ(m.kind, Kind::kAck) << "garbled message";
    ASSERT_TRUE(in_doubt.has_value()) << "ACK " << m.seq << " without BEGIN";
    ASSERT_EQ(m.seq, in_doubt->seq) << "ACK does not match its BEGIN";
    in_doubt.reset();
    next_seq = m.seq + 1;
    switch (m.action) {
      case Action::kAdd:
        ++adds;
        ++pending;
        break;
      case Action::kSet:
        ++sets;
        ++pending;
        note = text;
        break;
      case Action::kCreate:
        ++creates;
        ++pending;
        created.emplace_back(m.seq, text);
        break;
      case Action::kSeal:
        if (text == "1") {
          ++seals;
        } else {
          EXPECT_EQ(pending, 0u) << "Seal " << m.seq << " found nothing to seal";
          ++empty_seals;
        }
        pending = 0;
        break;
    }
  }

  // The seq after this run: an in-doubt action used its seq up.
  uint64_t ConsumedUpTo() const { return in_doubt ? in_doubt->seq + 1 : next_seq; }
};

class Pipe {
 public:
  explicit Pipe(int fd, RunLog& log) : fd_(fd), log_(log) {}

  // Waits up to timeout_ms for data; false on timeout or end of stream.
  bool ReadSome(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char chunk[8192];
    ssize_t got = read(fd_, chunk, sizeof chunk);
    if (got <= 0) {
      eof_ = true;  // the child died (or closed the pipe): nothing more will come
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(got));
    size_t used = 0;
    while (buffer_.size() - used >= sizeof(Message)) {
      Message m;
      std::memcpy(&m, buffer_.data() + used, sizeof m);
      used += sizeof m;
      log_.Take(m);
      last_ = m;
    }
    buffer_.erase(0, used);
    return true;
  }

  // Reads to end of stream: everything written before the child died was acknowledged.
  void Drain() {
    while (ReadSome(-1)) {
    }
    EXPECT_TRUE(buffer_.empty()) << "a torn message at the end of the pipe";
  }

  const std::optional<Message>& last() const { return last_; }
  bool eof() const { return eof_; }

 private:
  int fd_;
  RunLog& log_;
  std::string buffer_;
  std::optional<Message> last_;
  bool eof_ = false;
};

// ---------------------------------------------------------------------------------------------
// Helpers.

using TempDir = grove::testing::TempDir;

// PRAGMA integrity_check through the SQLite C API on a read-only connection.
std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string err = "open: " + std::string(sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return err;
  }
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    out = "prepare: " + std::string(sqlite3_errmsg(db));
  } else {
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (!out.empty()) out += "\n";
      out += text ? reinterpret_cast<const char*>(text) : "<null>";
    }
    if (rc != SQLITE_DONE) out += "step: " + std::string(sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
  return out;
}

int64_t StockOf(const Workspace& ws, const RecordId& item) {
  auto view = ws.Get(item);
  if (!view) return -1000000;
  auto it = view->fields.find("stock");
  if (it == view->fields.end()) return 0;
  const int64_t* n = std::get_if<int64_t>(&it->second.v);
  return n ? *n : -2000000;
}

std::optional<std::string> NoteOf(const Workspace& ws, const RecordId& item) {
  auto view = ws.Get(item);
  if (!view) return "<no item>";
  auto it = view->fields.find("note");
  if (it == view->fields.end()) return std::nullopt;
  const std::string* s = std::get_if<std::string>(&it->second.v);
  return s ? *s : "<not a string>";
}

uint64_t OwnHead(const Workspace& ws) {
  for (const VersionEntry& e : ws.Version()) {
    if (e.device == ws.device()) return e.seq;
  }
  return 0;
}

std::string Hex8(const Hash32& h) { return HexEncode(h).substr(0, 16); }

uint64_t CrashSeed() {
  if (const char* env = std::getenv("SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

// An open replica on the SQLite file; members close in the right order.
struct Opened {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Workspace> ws;
  void Close() {
    ws.reset();
    store.reset();
  }
};

// How a round picks its moment to kill.
enum class KillMode {
  kEarly,     // within a few ms of the fork: during open, or in the first actions
  kAnytime,   // after a random time
  kInSeal,    // after a random time, right after the next BEGIN of a Seal
  kInCreate,  // likewise for CreateRecord
};

const char* KillModeName(KillMode m) {
  switch (m) {
    case KillMode::kEarly:
      return "early";
    case KillMode::kAnytime:
      return "anytime";
    case KillMode::kInSeal:
      return "in-seal";
    case KillMode::kInCreate:
      return "in-create";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------

class ReplicaCrashTest : public ::testing::Test {
 protected:
  ReplicaCrashTest()
      : seed_(CrashSeed()),
        rng_(seed_),
        owner_(identity::Identity::Create("crash-owner", rng_, clock_).value()),
        peer_(identity::Identity::Create("crash-peer", rng_, clock_).value()) {
    shared_.db_path = dir_.File("store.db");
  }

  Result<Opened> Open() {
    Opened o;
    GROVE_ASSIGN_OR_RETURN(o.store, store::OpenSqliteStore(shared_.db_path, {}));
    GROVE_ASSIGN_OR_RETURN(o.ws, Workspace::Open(owner_, shared_.ws_id, *o.store, clock_, ws_rng_));
    return o;
  }

  // The workspace with one record "item", the peer a member and joined (in memory).
  void CreateWorkspace() {
    auto store = store::OpenSqliteStore(shared_.db_path, {});
    ASSERT_OK(store.status());
    auto ws = Workspace::Create(owner_, "crash", {}, **store, clock_, ws_rng_);
    ASSERT_OK(ws.status());
    ASSERT_OK((*ws)->AddMember(peer_.card(), Role::kMember));
    auto item = (*ws)->CreateRecord("item", {{"sku", Value("ITEM-1")}});
    ASSERT_OK(item.status());
    ASSERT_OK((*ws)->Seal().status());
    shared_.ws_id = (*ws)->id();
    shared_.item = *item;
    model_.own_head = OwnHead(**ws);

    peer_store_ = store::NewMemoryStore();
    auto genesis = (*ws)->Genesis();
    ASSERT_OK(genesis.status());
    auto joined = Workspace::Join(peer_, *genesis, *peer_store_, clock_, peer_rng_);
    ASSERT_OK(joined.status());
    peer_ws_ = std::move(joined).value();
    SyncPeer(**ws, "setup");
    ws->reset();  // close workspace, then store
    store->reset();
  }

  // Sends the peer everything it lacks; it must accept all of it and agree on both digests.
  void SyncPeer(Workspace& from, const std::string& when) {
    auto deltas = from.DeltasFor(peer_ws_->Version(), SIZE_MAX);
    ASSERT_OK(deltas.status());
    ApplyReport report = peer_ws_->Apply(*deltas);
    EXPECT_TRUE(report.store.ok()) << when << ": " << report.store.ToString();
    EXPECT_TRUE(report.rejected.empty())
        << when << ": " << report.rejected.size() << " rejected, first "
        << report.rejected.front().ToString();
    EXPECT_EQ(report.duplicates, 0u) << when;
    EXPECT_EQ(report.invalid, 0u) << when;
    EXPECT_EQ(report.forks, 0u) << when << ": the crashed replica re-signed a seq it had sent";
    EXPECT_EQ(report.buffered, 0u) << when;
    EXPECT_EQ(report.accepted, deltas->size()) << when;
    EXPECT_EQ(peer_ws_->digests().version, from.digests().version) << when;
    EXPECT_EQ(peer_ws_->digests().state, from.digests().state)
        << when << ": the peer computed another state from the same deltas\nowner:\n"
        << from.DebugString() << "peer:\n"
        << peer_ws_->DebugString();
    EXPECT_EQ(StockOf(*peer_ws_, shared_.item), StockOf(from, shared_.item)) << when;
  }

  // Forks a child that acts from model_.next_seq on, kills it as the mode says and returns what
  // it acknowledged.
  RunLog RunChildAndKill(int round, KillMode mode, int wait_ms, int delay_us) {
    RunLog log(model_);
    int fds[2];
    if (pipe(fds) != 0) {
      [] { FAIL() << "pipe: " << std::strerror(errno); }();
      return log;
    }
    std::fflush(nullptr);  // do not let the child inherit unflushed output
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      Child(shared_, owner_, model_.next_seq, seed_ * 1000 + static_cast<uint64_t>(round), fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {  // never kill(-1, ...)
      [] { FAIL() << "fork: " << std::strerror(errno); }();
      close(fds[0]);
      return log;
    }
    Pipe pipe_in(fds[0], log);
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + std::chrono::milliseconds(wait_ms);
    const auto hard_deadline = start + std::chrono::seconds(2);
    while (!pipe_in.eof() && std::chrono::steady_clock::now() < until && !HasFatalFailure()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      pipe_in.ReadSome(static_cast<int>(std::max<int64_t>(left.count(), 1)));
    }
    if (mode == KillMode::kInSeal || mode == KillMode::kInCreate) {
      const Action target = mode == KillMode::kInSeal ? Action::kSeal : Action::kCreate;
      auto in_target = [&] {
        const auto& m = pipe_in.last();
        return m && m->kind == Kind::kBegin && m->action == target;
      };
      while (!in_target() && !pipe_in.eof() && std::chrono::steady_clock::now() < hard_deadline &&
             !HasFatalFailure()) {
        pipe_in.ReadSome(10);
      }
    }
    if (delay_us > 0) usleep(static_cast<useconds_t>(delay_us));
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    pipe_in.Drain();
    close(fds[0]);
    EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "the child stopped on its own (exit status " << WEXITSTATUS(wstatus)
        << "); see its stderr";
    return log;
  }

  // After a kill: the file, the acknowledged actions, the in-doubt one, Rebuild, Seal, reopen,
  // and sync to the peer. Updates model_ to what the store now holds.
  void VerifyAfterKill(int round, const RunLog& log) {
    SCOPED_TRACE("round " + std::to_string(round));
    EXPECT_EQ(IntegrityCheck(shared_.db_path), "ok") << "right after the kill";

    auto opened = Open();
    ASSERT_OK(opened.status());
    Workspace& ws = *opened->ws;

    const std::optional<Message>& doubt = log.in_doubt;
    auto doubt_is = [&](Action a) { return doubt && doubt->action == a; };
    const std::string doubt_text =
        doubt ? std::string(ActionName(doubt->action)) + " " + std::to_string(doubt->seq)
              : std::string("none");
    SCOPED_TRACE("in-doubt action: " + doubt_text);

    // Did the in-doubt action commit? Each observation must tell the same story.
    std::vector<std::pair<std::string, bool>> committed;

    // Stock: every acknowledged Add, plus the in-doubt one if it committed.
    const int64_t stock = StockOf(ws, shared_.item);
    const int64_t want_stock = model_.stock + static_cast<int64_t>(log.adds);
    EXPECT_GE(stock, want_stock) << "an acknowledged Add was lost (" << log.adds
                                 << " acknowledged this run)";
    EXPECT_LE(stock, want_stock + (doubt_is(Action::kAdd) ? 1 : 0))
        << "more Adds than were started";
    if (doubt_is(Action::kAdd)) committed.emplace_back("stock", stock == want_stock + 1);
    // Across all runs: every acknowledged Add, plus at most one in-doubt Add per kill.
    EXPECT_GE(stock, static_cast<int64_t>(model_.acked_adds_total + log.adds));
    EXPECT_LE(stock, static_cast<int64_t>(model_.acked_adds_total + log.adds) + round + 1);

    // Records: every acknowledged CreateRecord's record exists, with its fields.
    for (const auto& [seq, text] : log.created) {
      auto id = ws.ResolveRecordId(text);
      ASSERT_OK(id.status());
      auto view = ws.Get(*id);
      ASSERT_TRUE(view.has_value())
          << "acknowledged record " << text << " (seq " << seq << ") is missing";
      EXPECT_EQ(view->type, "part");
      EXPECT_EQ(view->fields["sku"], Value(SkuFor(seq))) << text;
    }
    for (const auto& [seq, text] : model_.created) {
      auto id = ws.ResolveRecordId(text);
      EXPECT_TRUE(id.ok() && ws.Get(*id).has_value()) << "record " << text << " of an earlier run";
    }
    const size_t parts = ws.List("part").size();
    const size_t want_parts = model_.parts + log.creates;
    EXPECT_GE(parts, want_parts) << "an acknowledged CreateRecord was lost";
    EXPECT_LE(parts, want_parts + (doubt_is(Action::kCreate) ? 1 : 0));
    if (doubt_is(Action::kCreate)) committed.emplace_back("parts", parts == want_parts + 1);

    // The note: the last acknowledged Set, or the in-doubt one.
    const std::optional<std::string> note = NoteOf(ws, shared_.item);
    if (doubt_is(Action::kSet)) {
      const std::string in_doubt_note(doubt->text);
      EXPECT_TRUE(note == log.note || note == in_doubt_note)
          << "note " << note.value_or("<none>") << ", want " << log.note.value_or("<none>")
          << " or " << in_doubt_note;
      committed.emplace_back("note", note == in_doubt_note);
    } else {
      EXPECT_EQ(note, log.note) << "the last acknowledged Set";
    }

    // Pending actions and sealed deltas: a Seal moves actions from one to the other atomically,
    // and an action is stored together with its pending entry.
    const uint64_t head = OwnHead(ws);
    const size_t pending = ws.pending_actions();
    const uint64_t want_head = model_.own_head + log.seals;
    if (doubt_is(Action::kSeal)) {
      EXPECT_TRUE((head == want_head && pending == log.pending) ||
                  (head == want_head + 1 && pending == 0 && log.pending > 0))
          << "in-doubt Seal: head " << head << " pending " << pending << "; want head " << want_head
          << " with " << log.pending << " pending, or head " << want_head + 1 << " with none";
      committed.emplace_back("own head", head == want_head + 1);
    } else {
      EXPECT_EQ(head, want_head) << "sealed deltas of this device (acknowledged Seals)";
      EXPECT_GE(pending, log.pending) << "acknowledged actions not pending and not sealed";
      EXPECT_LE(pending, log.pending + (doubt ? 1 : 0));
      if (doubt) committed.emplace_back("pending", pending == log.pending + 1);
    }
    for (size_t i = 1; i < committed.size(); ++i) {
      EXPECT_EQ(committed[i].second, committed[0].second)
          << "half of the in-doubt action is stored: " << committed[0].first << " says "
          << (committed[0].second ? "committed" : "not committed") << ", " << committed[i].first
          << " says " << (committed[i].second ? "committed" : "not committed");
    }
    const bool doubt_committed = !committed.empty() && committed[0].second;

    // Rebuild and Seal, in a seeded order; neither changes the state.
    const Digests before = ws.digests();
    const bool rebuild_first = rng_.Uniform(2) == 0;
    if (rebuild_first) {
      ASSERT_OK(ws.Rebuild());  // seals pending actions first
      EXPECT_EQ(ws.digests().state, before.state) << "Rebuild (with pending actions) changed it";
      auto sealed = ws.Seal();
      ASSERT_OK(sealed.status());
      EXPECT_FALSE(*sealed) << "Rebuild left pending actions";
    } else {
      ASSERT_OK(ws.Seal().status());
      EXPECT_EQ(ws.digests().state, before.state) << "Seal changed the state";
      ASSERT_OK(ws.Rebuild());
      EXPECT_EQ(ws.digests().state, before.state) << "Rebuild changed the state";
    }
    EXPECT_EQ(ws.pending_actions(), 0u);
    const Digests sealed_digests = ws.digests();
    const uint64_t sealed_head = OwnHead(ws);
    EXPECT_EQ(sealed_head, head + (pending > 0 ? 1 : 0));
    opened->Close();

    // Reopen: what the parent sealed is durable, and the state is the same.
    auto again = Open();
    ASSERT_OK(again.status());
    Workspace& ws2 = *again->ws;
    EXPECT_EQ(ws2.digests().state, before.state) << "reopen after Seal/Rebuild";
    EXPECT_EQ(ws2.digests().version, sealed_digests.version) << "reopen after Seal/Rebuild";
    EXPECT_EQ(StockOf(ws2, shared_.item), stock) << "counter after Seal and reopen";
    EXPECT_EQ(ws2.List("part").size(), parts);
    EXPECT_EQ(NoteOf(ws2, shared_.item), note);
    EXPECT_EQ(ws2.pending_actions(), 0u);
    EXPECT_EQ(OwnHead(ws2), sealed_head);

    // What was acknowledged also syncs.
    SyncPeer(ws2, "round " + std::to_string(round));
    again->Close();
    EXPECT_EQ(IntegrityCheck(shared_.db_path), "ok") << "after the parent closed the store";

    std::cout << "[  verify  ] round " << round << ": acknowledged " << log.adds << " Add, "
              << log.sets << " Set, " << log.creates << " CreateRecord, " << log.seals << " Seal (+"
              << log.empty_seals << " empty); in doubt: " << doubt_text
              << (doubt ? (doubt_committed ? " (committed)" : " (not committed)") : "")
              << "; stock " << stock << ", parts " << parts << ", own deltas " << sealed_head
              << ", state " << Hex8(before.state) << "\n";

    model_.next_seq = log.ConsumedUpTo();
    model_.stock = stock;
    model_.parts = parts;
    model_.note = note;
    model_.own_head = sealed_head;
    model_.pending = 0;
    model_.created.insert(model_.created.end(), log.created.begin(), log.created.end());
    model_.acked_adds_total += log.adds;
  }

  const uint64_t seed_;
  SystemClock clock_;
  SeededRandom rng_;            // the test's choices only, so that SEED=n replays them
  SeededRandom ws_rng_{0x0e1};  // keys and nonces of the parent's replica
  SeededRandom peer_rng_{0x5eed};
  TempDir dir_;
  identity::Identity owner_;
  identity::Identity peer_;
  Shared shared_;
  Model model_;
  std::unique_ptr<store::Store> peer_store_;
  std::unique_ptr<Workspace> peer_ws_;
};

TEST_F(ReplicaCrashTest, KilledReplicaKeepsEveryAcknowledgedActionAndSyncsIt) {
  std::cout << "[   seed   ] replica crash test seed " << seed_
            << " (replay the choices with SEED=" << seed_ << ")\n";
  RecordProperty("seed", std::to_string(seed_));
  SCOPED_TRACE("SEED=" + std::to_string(seed_));
  CreateWorkspace();
  if (HasFatalFailure()) return;

  // Each round is bounded to about 2 s (usually well under 1 s); the whole test to about 15 s.
  constexpr int kKills = 10;
  uint64_t total_messages = 0;
  for (int round = 0; round < kKills; ++round) {
    // The first round always runs a while, so that later kills meet a store with history.
    KillMode mode = round == 0 ? KillMode::kAnytime : static_cast<KillMode>(rng_.Uniform(4));
    int wait_ms = mode == KillMode::kEarly ? static_cast<int>(rng_.Uniform(25))
                                           : 50 + static_cast<int>(rng_.Uniform(650));
    // After a BEGIN the kill must come soon to land inside that action (a Seal takes a fraction
    // of a millisecond); otherwise anywhere in the next 2 ms.
    const bool targeted = mode == KillMode::kInSeal || mode == KillMode::kInCreate;
    int delay_us = rng_.Uniform(3) == 0 ? 0 : static_cast<int>(rng_.Uniform(targeted ? 400 : 2000));
    RunLog log = RunChildAndKill(round, mode, wait_ms, delay_us);
    if (HasFatalFailure()) return;
    total_messages += log.messages;
    std::cout << "[   kill   ] round " << round << ": " << KillModeName(mode) << ", " << wait_ms
              << " ms + " << delay_us << " us; " << log.messages << " messages\n";
    VerifyAfterKill(round, log);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(model_.acked_adds_total, 100u) << "the child barely ran; the test proved little";

  // Finally, a replica that starts from nothing receives everything in one batch and reaches
  // the same state as the crashed-and-reopened one.
  auto opened = Open();
  ASSERT_OK(opened.status());
  Workspace& ws = *opened->ws;
  EXPECT_EQ(StockOf(ws, shared_.item), model_.stock);
  EXPECT_GE(model_.stock, static_cast<int64_t>(model_.acked_adds_total));
  auto fresh_store = store::NewMemoryStore();
  SeededRandom fresh_rng(0xf2e5);
  auto genesis = ws.Genesis();
  ASSERT_OK(genesis.status());
  auto fresh = Workspace::Join(peer_, *genesis, *fresh_store, clock_, fresh_rng);
  ASSERT_OK(fresh.status());
  auto all = ws.DeltasFor({}, SIZE_MAX);
  ASSERT_OK(all.status());
  EXPECT_EQ(ws.pending_actions(), 0u);
  ApplyReport report = (*fresh)->Apply(*all);
  EXPECT_TRUE(report.store.ok()) << report.store.ToString();
  EXPECT_TRUE(report.rejected.empty()) << report.rejected.front().ToString();
  EXPECT_EQ(report.invalid, 0u);
  EXPECT_EQ(report.forks, 0u);
  EXPECT_EQ(report.buffered, 0u);
  EXPECT_EQ((*fresh)->digests().version, ws.digests().version);
  EXPECT_EQ((*fresh)->digests().state, ws.digests().state);
  EXPECT_EQ(StockOf(**fresh, shared_.item), model_.stock);
  EXPECT_EQ((*fresh)->List("part").size(), model_.parts);
  for (const auto& [seq, text] : model_.created) {
    auto id = (*fresh)->ResolveRecordId(text);
    EXPECT_TRUE(id.ok() && (*fresh)->Get(*id).has_value()) << "record " << text << " did not sync";
  }
  EXPECT_EQ(peer_ws_->digests().state, ws.digests().state) << "the peer synced round by round";
  std::cout << "[  result  ] " << kKills << " kills, " << total_messages << " messages; "
            << model_.acked_adds_total << " acknowledged Adds, stock " << model_.stock << ", "
            << model_.parts << " parts, " << model_.own_head << " own deltas, "
            << ws.digests().deltas << " deltas in all\n";
  opened->Close();
}

}  // namespace
}  // namespace grove::replica
