// MemoryNet: SyncNodes connected in one process, for the sync tests (sync_test.cc,
// relay_test.cc). Frames wait in a queue until Run() delivers them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "support/test_device.h"
#include "sync/sync.h"

namespace grove {

using replica::Role;
using replica::Value;
using sync::ConnectionId;

// Frames between SyncNodes in one process: each connection is a pair of ids, one per side;
// frames wait in a queue until Run() delivers them (or forever, to test backpressure).
class MemoryNet {
 public:
  struct Side;
  class Port : public sync::Transport {
   public:
    Port(MemoryNet& net, int node) : net_(net), node_(node) {}
    void set_node(int node) { node_ = node; }
    bool Send(ConnectionId id, Bytes frame) override {
      auto it = net_.links_.find({node_, id});
      if (it == net_.links_.end()) return false;
      size_t& queued = net_.queued_[{node_, id}];
      // Nodes stop sending past their limit once it is reached: the frame that crossed it is
      // what a queue may hold over the limit.
      net_.over_limit_ = std::max(net_.over_limit_, queued);
      queued += frame.size();
      net_.queue_.push_back(Pending{node_, id, std::move(frame)});
      return true;
    }
    size_t Queued(ConnectionId id) const override {
      auto it = net_.queued_.find({node_, id});
      return it == net_.queued_.end() ? 0 : it->second;
    }
    void Close(ConnectionId id, const Status& reason) override {
      net_.closed_reasons_.push_back(reason.ToString());
      net_.Disconnect(node_, id);
    }

   private:
    MemoryNet& net_;
    int node_;
  };

  int Add(sync::SyncNode* node) {
    nodes_.push_back(node);
    return static_cast<int>(nodes_.size()) - 1;
  }

  // Connects node a to a scripted remote with TLS key `key` that sends only what the test
  // injects (on the returned id) and ignores what it receives.
  ConnectionId ConnectRaw(int a, const crypto::PublicKey& key) {
    ConnectionId ca = next_++, raw = next_++;
    links_[{a, ca}] = {kRaw, raw};
    links_[{kRaw, raw}] = {a, ca};
    nodes_[a]->OnConnected(ca, key, false, "127.0.0.1");
    return raw;
  }
  static constexpr int kRaw = 1000;

  // Connects node a (outbound) to node b; each side learns the other's TLS key.
  void Connect(int a, int b, const crypto::PublicKey& key_a, const crypto::PublicKey& key_b) {
    ConnectionId ca = next_++, cb = next_++;
    links_[{a, ca}] = {b, cb};
    links_[{b, cb}] = {a, ca};
    // Observed ports: a's side dialled from its "listen port", b's side answers on one.
    nodes_[a]->OnConnected(ca, key_b, true, "127.0.0.1", static_cast<uint16_t>(20000 + b));
    nodes_[b]->OnConnected(cb, key_a, false, "127.0.0.1", static_cast<uint16_t>(20000 + a));
  }

  // Connects a and b as a splice through a relay at `relay_host` would: each socket leads to
  // the relay, so each side observes the relay's host and no port of the other's (0).
  void ConnectSpliced(int a, int b, const crypto::PublicKey& key_a, const crypto::PublicKey& key_b,
                      const std::string& relay_host) {
    ConnectionId ca = next_++, cb = next_++;
    links_[{a, ca}] = {b, cb};
    links_[{b, cb}] = {a, ca};
    nodes_[a]->OnConnected(ca, key_b, true, relay_host, 0);
    nodes_[b]->OnConnected(cb, key_a, true, relay_host, 0);
  }

  void Disconnect(int node, ConnectionId id) {
    auto it = links_.find({node, id});
    if (it == links_.end()) return;
    auto other = it->second;
    links_.erase(it);
    links_.erase(other);
    if (other.first != kRaw) nodes_[other.first]->OnClosed(other.second);
  }

  // Delivers queued frames until none are left (bounded).
  void Run(size_t max_frames = 100000) {
    for (size_t i = 0; i < max_frames && !queue_.empty(); ++i) {
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      queued_[{p.node, p.id}] -= p.frame.size();
      auto it = links_.find({p.node, p.id});
      if (it == links_.end() || it->second.first == kRaw) continue;
      nodes_[it->second.first]->OnFrame(it->second.second, p.frame);
      if (queue_.empty()) {
        for (auto* n : nodes_) n->Pump();
      }
    }
  }

  // Injects raw bytes as if node `from` had sent them on connection `id`.
  void Inject(int from, ConnectionId id, Bytes frame) {
    queue_.push_back(Pending{from, id, std::move(frame)});
    queued_[{from, id}] += queue_.back().frame.size();
  }

  ConnectionId LastId() const { return next_ - 1; }
  // The most any connection held queued when a node sent one more frame on it: a node that
  // respects Options::max_queued_bytes keeps this below that limit.
  size_t MaxQueuedBeforeSend() const { return over_limit_; }
  std::vector<std::string> closed_reasons_;

 private:
  struct Pending {
    int node;
    ConnectionId id;
    Bytes frame;
  };
  std::vector<sync::SyncNode*> nodes_;
  std::map<std::pair<int, ConnectionId>, std::pair<int, ConnectionId>> links_;
  std::map<std::pair<int, ConnectionId>, size_t> queued_;
  std::deque<Pending> queue_;
  ConnectionId next_ = 1;
  size_t over_limit_ = 0;
};

struct Node {
  Node(const std::string& name, uint64_t seed, FakeClock& clock, MemoryNet& net,
       sync::Options options = {}, sync::Observer observer = {}, sync::BlindHooks blind = {})
      : device(name, seed, clock),
        port(net, 0),
        node(device.identity, port, options, std::move(observer), std::move(blind)) {
    index = net.Add(&node);
    port.set_node(index);
    node.SetChunkStore(device.store.get());
  }
  const crypto::PublicKey& key() const { return device.identity.card().sign_key; }

  testing::TestDevice device;
  MemoryNet::Port port;
  sync::SyncNode node;
  int index = 0;
};

class SyncTest : public ::testing::Test {
 protected:
  replica::Workspace& CreateAt(Node& n) {
    auto ws = replica::Workspace::Create(n.device.identity, "shop", {}, *n.device.store, clock,
                                         n.device.rng);
    EXPECT_TRUE(ws.ok());
    replica::Workspace* raw = ws->get();
    n.node.AddWorkspace(std::move(ws).value());
    return *raw;
  }

  // Accepts the invitation `n` got for `id`, as the peer's API would.
  replica::Workspace& Accept(Node& n, const replica::WorkspaceId& id) {
    auto inv = n.node.TakeInvitation(id);
    EXPECT_TRUE(inv.has_value());
    auto ws = replica::Workspace::Join(n.device.identity, inv->genesis, *n.device.store, clock,
                                       n.device.rng);
    EXPECT_TRUE(ws.ok()) << ws.status().ToString();
    replica::Workspace* raw = ws->get();
    n.node.AddWorkspace(std::move(ws).value());
    return *raw;
  }

  FakeClock clock;
  MemoryNet net;
};

}  // namespace grove
