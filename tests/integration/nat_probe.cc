// grove-nat-probe: one end of tests/integration/nat_test.sh, which runs it inside network
// namespaces behind NAT routers. A line protocol on stdin and stdout, so a shell script can
// drive it:
//
//   grove-nat-probe relay --listen HOST:PORT
//     prints   key HEX | listening HOST:PORT
//              observed NAME HOST:PORT       (a peer said hello; HOST:PORT is its NAT mapping)
//     commands expect TOKEN MS               (answers "expecting TOKEN" or "error ...")
//              stats                         (answers "stats splices_total=N bytes_spliced=N")
//              quit
//
//   grove-nat-probe peer --name NAME --listen HOST:PORT --relay HOST:PORT
//     prints   key HEX | listening HOST:PORT | relay-connected
//              connected path=punched|spliced remote=HOST:PORT
//              received ping from NAME       (the far end's test message arrived)
//              failed punch|splice REASON
//     commands punch HOST:PORT server|client MS KEYHEX
//              splice TOKEN server|client KEYHEX
//              quit
//
// The peer listens with reuse_port and dials the relay from its listen port, so the relay
// observes the mapping a punch from that port gets (on a NAT that keeps it).
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "net/network.h"

namespace grove {
namespace {

std::mutex out_mu;

void Say(const std::string& line) {
  std::lock_guard<std::mutex> lock(out_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::optional<crypto::PublicKey> ParseKey(const std::string& hex) {
  std::optional<Bytes> bytes = HexDecode(hex);
  crypto::PublicKey key{};
  if (!bytes.has_value() || bytes->size() != key.size()) return std::nullopt;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

class Probe final : public net::Handler {
 public:
  explicit Probe(std::string name) : name_(std::move(name)) {}

  void SetNetwork(net::Network* network) { net_ = network; }

  // Dials and remembers what for, before any event of the dial can ask.
  void Dial(const std::string& kind, const net::Endpoint& to, const net::DialOptions& options) {
    std::lock_guard<std::mutex> lock(mu_);
    dials_[net_->Dial(to, options)] = kind;
  }

  void OnConnected(const net::PeerInfo& peer) override {
    std::string kind;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = dials_.find(peer.id);
      if (it != dials_.end()) kind = it->second;
    }
    if (kind == "relay") {
      Say("relay-connected");
      net_->Send(peer.id, ToBytes("hello " + name_));
    } else if (!kind.empty()) {
      Say(std::string("connected path=") + net::PathName(peer.path) +
          " remote=" + peer.remote.ToString());
      net_->Send(peer.id, ToBytes("ping from " + name_));
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      inbound_[peer.id] = peer.remote;
    }
  }

  void OnFrame(net::ConnectionId id, Bytes frame) override {
    const std::string text = ToString(frame);
    if (text.rfind("hello ", 0) == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = inbound_.find(id);
      if (it != inbound_.end()) Say("observed " + text.substr(6) + " " + it->second.ToString());
    } else if (text.rfind("ping from ", 0) == 0) {
      Say("received " + text);
    }
  }

  void OnClosed(net::ConnectionId, const Status&) override {}

  void OnDialFailed(uint64_t dial_id, const net::Endpoint&, const Status& reason) override {
    std::string kind;
    {
      std::lock_guard<std::mutex> lock(mu_);
      kind = dials_[dial_id];
    }
    Say("failed " + kind + " " + reason.ToString());
  }

 private:
  const std::string name_;
  net::Network* net_ = nullptr;
  std::mutex mu_;
  std::map<uint64_t, std::string> dials_;
  std::map<net::ConnectionId, net::Endpoint> inbound_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: grove-nat-probe relay --listen HOST:PORT\n"
               "       grove-nat-probe peer --name NAME --listen HOST:PORT --relay HOST:PORT\n");
  return 2;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string role = argv[1];
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if ((role != "relay" && role != "peer") || flags.count("--listen") == 0 ||
      (role == "peer" && (flags.count("--relay") == 0 || flags.count("--name") == 0))) {
    return Usage();
  }
  const std::string name = role == "relay" ? "relay" : flags["--name"];

  crypto::SystemRandom random;
  SystemClock clock;
  Result<identity::Identity> me = identity::Identity::Create(name, random, clock);
  if (!me.ok()) {
    Say("error " + me.status().ToString());
    return 1;
  }
  Result<net::Endpoint> listen = net::ParseEndpoint(flags["--listen"]);
  if (!listen.ok()) {
    Say("error " + listen.status().ToString());
    return 2;
  }
  net::Options options;
  options.listen = *listen;
  options.handshake_timeout_ms = 5000;
  options.splice = role == "relay";
  options.reuse_port = role == "peer";
  Probe probe(name);
  Result<std::unique_ptr<net::Network>> started = net::Network::Start(*me, options, probe);
  if (!started.ok()) {
    Say("error " + started.status().ToString());
    return 1;
  }
  std::unique_ptr<net::Network> network = std::move(started).value();
  probe.SetNetwork(network.get());
  Say("key " + HexEncode(me->signing_key().public_key()));
  Say("listening " + network->listening().ToString());

  net::Endpoint relay;
  if (role == "peer") {
    Result<net::Endpoint> parsed = net::ParseEndpoint(flags["--relay"]);
    if (!parsed.ok()) {
      Say("error " + parsed.status().ToString());
      return 2;
    }
    relay = *parsed;
    net::DialOptions to_relay;
    to_relay.from_listen_port = true;
    probe.Dial("relay", relay, to_relay);
  }

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "quit") break;
    if (command == "stats") {
      const net::Network::Stats s = network->stats();
      Say("stats splices_total=" + std::to_string(s.splices_total) +
          " bytes_spliced=" + std::to_string(s.bytes_spliced));
    } else if (command == "expect") {
      std::string token;
      int ttl_ms = 0;
      in >> token >> ttl_ms;
      Status s = network->ExpectSplice(token, ttl_ms);
      Say(s.ok() ? "expecting " + token : "error " + s.ToString());
    } else if (command == "punch" || command == "splice") {
      std::string target, role_text, key_text;
      int punch_ms = 0;
      in >> target >> role_text;
      if (command == "punch") in >> punch_ms;
      in >> key_text;
      std::optional<crypto::PublicKey> key = ParseKey(key_text);
      if (!key.has_value() || (role_text != "server" && role_text != "client")) {
        Say("error bad command: " + line);
        continue;
      }
      net::DialOptions dial;
      dial.expected = key;
      dial.tls_server = role_text == "server";
      net::Endpoint to = relay;
      if (command == "punch") {
        Result<net::Endpoint> parsed = net::ParseEndpoint(target);
        if (!parsed.ok()) {
          Say("error " + parsed.status().ToString());
          continue;
        }
        to = *parsed;
        dial.punch_ms = punch_ms;
      } else {
        dial.splice_token = target;
      }
      probe.Dial(command, to, dial);
    } else if (!command.empty()) {
      Say("error unknown command: " + command);
    }
  }
  network->Stop();
  return 0;
}

}  // namespace
}  // namespace grove

int main(int argc, char** argv) { return grove::Main(argc, argv); }
