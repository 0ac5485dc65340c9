#include "config/peer_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <map>
#include <type_traits>

namespace grove::config {
namespace {

// A configuration file larger than this is a mistake (a wrong path), not a configuration.
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr uint64_t kMaxMillis = 2147483647;           // consumers keep delays in an int
constexpr uint64_t kMaxFrameBytes = 4294967295;       // frames carry a 32-bit length prefix
constexpr uint64_t kMaxAttachmentBytes = 1ull << 40;  // far past any file a peer should store

// One scalar value, from the file or the command line.
struct Value {
  std::string_view text;
  bool plain = true;  // unquoted in YAML (command-line values count as plain)
  std::string where;  // "FILE:LINE:COL" or "--KEY"
};

using Apply = Status (*)(PeerConfig&, const Value&);

struct Leaf {
  std::string_view name;    // dotted: "sync.seal_delay_ms"
  std::string_view expect;  // completes "NAME must be ..."
  bool list;                // a YAML sequence of values (connect)
  Apply apply;
};

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

Status Bad(std::string_view key, std::string_view expect, const Value& v) {
  std::string msg = std::string(key) + " must be " + std::string(expect) + ", got ";
  msg += v.plain ? Quote(v.text) : "the quoted string \"" + std::string(v.text) + "\"";
  return InvalidArgument(std::move(msg), v.where);
}

Result<uint64_t> Unsigned(std::string_view key, const Value& v, uint64_t min, uint64_t max) {
  const std::string_view expect = min == 0 ? "a non-negative integer" : "a positive integer";
  const bool digits = !v.text.empty() && std::all_of(v.text.begin(), v.text.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
  if (!v.plain || !digits) return Bad(key, expect, v);
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
  if (ec != std::errc() || end != v.text.data() + v.text.size() || n > max) {
    return InvalidArgument(
        std::string(key) + " must be at most " + std::to_string(max) + ", got " + Quote(v.text),
        v.where);
  }
  if (n < min) return Bad(key, expect, v);
  return n;
}

Result<bool> Boolean(std::string_view key, const Value& v) {
  if (v.plain) {
    if (v.text == "true" || v.text == "True" || v.text == "TRUE") return true;
    if (v.text == "false" || v.text == "False" || v.text == "FALSE") return false;
  }
  return Bad(key, "true or false", v);
}

Status Address(std::string_view key, const Value& v) {
  Status s = CheckHostPort(v.text);
  if (s.ok()) return s;
  return InvalidArgument(
      std::string(key) + " must be HOST:PORT, got " + Quote(v.text) + ": " + s.message(), v.where);
}

template <auto Field, uint64_t kMin, uint64_t kMax>
Status SetUnsigned(std::string_view key, PeerConfig& c, const Value& v) {
  GROVE_ASSIGN_OR_RETURN(uint64_t n, Unsigned(key, v, kMin, kMax));
  c.*Field = static_cast<std::remove_reference_t<decltype(c.*Field)>>(n);
  return Status::Ok();
}

const Leaf kLeaves[] = {
    {"data", "a path", false,
     [](PeerConfig& c, const Value& v) {
       if (v.text.empty()) return Bad("data", "a path", v);
       c.data = std::string(v.text);
       return Status::Ok();
     }},
    {"listen", "HOST:PORT", false,
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(Address("listen", v));
       c.listen = std::string(v.text);
       return Status::Ok();
     }},
    {"api", "HOST:PORT", false,
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(Address("api", v));
       c.api = std::string(v.text);
       return Status::Ok();
     }},
    {"connect", "a list of HOST:PORT", true,
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(Address("connect", v));
       if (std::find(c.connect.begin(), c.connect.end(), v.text) == c.connect.end()) {
         c.connect.emplace_back(v.text);
       }
       return Status::Ok();
     }},
    {"log.level", "one of debug, info, warn, error", false,
     [](PeerConfig& c, const Value& v) {
       if (!v.plain ||
           (v.text != "debug" && v.text != "info" && v.text != "warn" && v.text != "error")) {
         return Bad("log.level", "one of debug, info, warn, error", v);
       }
       c.log_level = std::string(v.text);
       return Status::Ok();
     }},
    {"log.format", "json (the only format for now)", false,
     [](PeerConfig& c, const Value& v) {
       if (!v.plain || v.text != "json") {
         return Bad("log.format", "json (the only format for now)", v);
       }
       c.log_format = std::string(v.text);
       return Status::Ok();
     }},
    {"sync.seal_delay_ms", "a non-negative integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::seal_delay_ms, 0, kMaxMillis>("sync.seal_delay_ms", c, v);
     }},
    {"sync.max_frame_bytes", "a positive integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::max_frame_bytes, 1, kMaxFrameBytes>("sync.max_frame_bytes",
                                                                           c, v);
     }},
    {"sync.batch_bytes", "a positive integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::batch_bytes, 1, kMaxFrameBytes>("sync.batch_bytes", c, v);
     }},
    {"sync.reconnect_min_ms", "a positive integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::reconnect_min_ms, 1, kMaxMillis>("sync.reconnect_min_ms", c,
                                                                        v);
     }},
    {"sync.reconnect_max_ms", "a positive integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::reconnect_max_ms, 1, kMaxMillis>("sync.reconnect_max_ms", c,
                                                                        v);
     }},
    {"sync.discover", "true or false", false,
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.discover, Boolean("sync.discover", v));
       return Status::Ok();
     }},
    {"store.sync_full", "true or false", false,
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.store_sync_full, Boolean("store.sync_full", v));
       return Status::Ok();
     }},
    {"attachments.max_bytes", "a positive integer", false,
     [](PeerConfig& c, const Value& v) {
       return SetUnsigned<&PeerConfig::attachment_max_bytes, 1, kMaxAttachmentBytes>(
           "attachments.max_bytes", c, v);
     }},
};

const Leaf* FindLeaf(std::string_view name) {
  for (const Leaf& leaf : kLeaves) {
    if (leaf.name == name) return &leaf;
  }
  return nullptr;
}

bool IsSection(std::string_view name) {
  return name == "log" || name == "sync" || name == "store" || name == "attachments";
}

// The keys that may appear inside `section` ("" for the top level), without the section prefix.
std::vector<std::string> KnownKeys(std::string_view section) {
  std::vector<std::string> keys;
  for (const Leaf& leaf : kLeaves) {
    const size_t dot = leaf.name.find('.');
    const std::string_view head = leaf.name.substr(0, dot);
    if (section.empty()) {
      if (keys.empty() || keys.back() != head) keys.emplace_back(head);
    } else if (dot != std::string_view::npos && head == section) {
      keys.emplace_back(leaf.name.substr(dot + 1));
    }
  }
  return keys;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

Status UnknownKey(std::string_view section, std::string_view key, std::string where) {
  const std::vector<std::string> known = KnownKeys(section);
  const std::string prefix = section.empty() ? "" : std::string(section) + ".";
  std::string msg = "unknown key '" + prefix + std::string(key) + "'";
  for (const std::string& k : known) {
    // Short names are too close to each other for typo distance ("sink" is not "sync"); they are
    // suggested only when they differ in case.
    const size_t allowed = k.size() < 5 ? 0 : k.size() / 3;
    std::string lower(key);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (EditDistance(k, lower) <= allowed) {
      msg += ", did you mean '" + prefix + k + "'?";
      break;
    }
  }
  msg += " (known";
  if (!section.empty()) msg += " in " + std::string(section);
  msg += ": ";
  for (size_t i = 0; i < known.size(); ++i) msg += (i ? ", " : "") + known[i];
  msg += ")";
  return InvalidArgument(std::move(msg), std::move(where));
}

// ---- YAML -------------------------------------------------------------------------------------

std::string Where(std::string_view file, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return std::string(file);
  return std::string(file) + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1);
}

const char* KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// A node as an error message shows it: a scalar by its text, anything else by its kind.
std::string Describe(const YAML::Node& node) {
  return node.IsScalar() ? Quote(node.Scalar()) : KindOf(node);
}

class Parser {
 public:
  explicit Parser(std::string_view file) : file_(file) {}

  Result<PeerConfig> Run(std::string_view yaml) {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
    if (docs.size() > 1) {
      return InvalidArgument("the file holds " + std::to_string(docs.size()) +
                                 " YAML documents; a configuration is one",
                             Where(file_, docs[1].Mark()));
    }
    if (!docs.empty() && !docs[0].IsNull()) {
      const YAML::Node& root = docs[0];
      if (!root.IsMap()) {
        return InvalidArgument("the configuration must be a mapping of keys, got " + Describe(root),
                               Where(file_, root.Mark()));
      }
      GROVE_RETURN_IF_ERROR(Map(root, ""));
    }
    if (!where_.count("data")) {
      return InvalidArgument("missing required key 'data' (the data folder)", std::string(file_));
    }
    GROVE_RETURN_IF_ERROR(CrossCheck());
    return config_;
  }

 private:
  Status Map(const YAML::Node& map, std::string_view section) {
    std::map<std::string, std::string> seen;  // key -> where
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key_node = it->first;  // copies of handles: `it->` is a temporary
      const YAML::Node value = it->second;
      const std::string key_where = Where(file_, key_node.Mark());
      if (!key_node.IsScalar()) {
        return InvalidArgument(std::string("keys must be names, got ") + KindOf(key_node),
                               key_where);
      }
      const std::string key = key_node.Scalar();
      const std::string name = section.empty() ? key : std::string(section) + "." + key;
      auto [first, inserted] = seen.emplace(key, key_where);
      if (!inserted) {
        return InvalidArgument("key '" + name + "' is given twice (first at " + first->second + ")",
                               key_where);
      }
      if (section.empty() && IsSection(key)) {
        if (value.IsNull()) continue;  // an empty section keeps the defaults
        if (!value.IsMap()) {
          return InvalidArgument(name + " must be a mapping of keys, got " + Describe(value),
                                 Where(file_, value.Mark()));
        }
        GROVE_RETURN_IF_ERROR(Map(value, key));
        continue;
      }
      const Leaf* leaf = FindLeaf(name);
      if (leaf == nullptr) return UnknownKey(section, key, key_where);
      GROVE_RETURN_IF_ERROR(Apply(*leaf, value, key_where));
    }
    return Status::Ok();
  }

  Status Apply(const Leaf& leaf, const YAML::Node& node, const std::string& key_where) {
    const std::string name(leaf.name);
    if (node.IsNull()) {
      // yaml-cpp marks an empty value at the next token: the key's position is the useful one.
      return InvalidArgument(name + " must be " + std::string(leaf.expect) + ", got nothing",
                             key_where);
    }
    where_[name] = Where(file_, node.Mark());
    if (leaf.list) {
      if (!node.IsSequence()) {
        return InvalidArgument(name + " must be " + std::string(leaf.expect) + ", got " +
                                   Describe(node) + " (write [ \"HOST:PORT\", ... ])",
                               where_[name]);
      }
      config_.connect.clear();
      std::map<std::string, std::string> first_at;
      for (const YAML::Node& item : node) {
        if (!item.IsScalar()) {
          return InvalidArgument(
              name + " entries must be HOST:PORT, got " + std::string(KindOf(item)),
              Where(file_, item.Mark()));
        }
        Value v{item.Scalar(), item.Tag() == "?", Where(file_, item.Mark())};
        auto [first, inserted] = first_at.emplace(item.Scalar(), v.where);
        if (!inserted) {
          return InvalidArgument(
              name + " lists " + Quote(v.text) + " twice (first at " + first->second + ")",
              v.where);
        }
        GROVE_RETURN_IF_ERROR(leaf.apply(config_, v));
      }
      return Status::Ok();
    }
    if (!node.IsScalar()) {
      std::string msg = name + " must be " + std::string(leaf.expect) + ", got " + KindOf(node);
      if (leaf.expect == "HOST:PORT" && node.IsSequence()) {
        msg += " (quote an IPv6 address: \"[::1]:7400\")";
      }
      return InvalidArgument(std::move(msg), where_[name]);
    }
    return leaf.apply(config_, Value{node.Scalar(), node.Tag() == "?", where_[name]});
  }

  // Where a key's value was, or the file when the key was not given.
  std::string WhereOf(const std::string& key) const {
    auto it = where_.find(key);
    return it != where_.end() ? it->second : std::string(file_);
  }

  Status CrossCheck() {
    Status s = ValidatePeerConfig(config_);
    if (s.ok()) return s;
    // ValidatePeerConfig names the key to blame in where(); point at it in the file instead.
    const std::string& key = s.where();
    return InvalidArgument(s.message(), where_.count(key) ? WhereOf(key) : WhereOf(Partner(key)));
  }

  static std::string Partner(const std::string& key) {
    if (key == "sync.reconnect_min_ms") return "sync.reconnect_max_ms";
    if (key == "sync.batch_bytes") return "sync.max_frame_bytes";
    return key;
  }

  std::string_view file_;
  PeerConfig config_;
  std::map<std::string, std::string> where_;  // leaf name -> where its value is
};

}  // namespace

Status CheckHostPort(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty address");
  std::string_view host, port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return InvalidArgument("missing ':PORT' after ']'");
    port = rest.substr(1);
    std::string address(host.substr(0, host.find('%')));  // a zone (%eth0) is not part of it
    in6_addr v6;
    if (host.empty()) return InvalidArgument("empty host");
    if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) {
      return InvalidArgument("'" + std::string(host) + "' is not an IPv6 address");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return InvalidArgument("missing ':PORT'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.empty()) return InvalidArgument("empty host");
    if (host.find(':') != std::string_view::npos) {
      return InvalidArgument("an IPv6 address must be in brackets, as in [::1]:7400");
    }
    const bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-' || c == '_';
    });
    if (!name_chars || host.front() == '.' || host.front() == '-') {
      return InvalidArgument("'" + std::string(host) + "' is not a host name or IP address");
    }
    const bool numeric = std::all_of(host.begin(), host.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    in_addr v4;
    if (numeric && inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
      return InvalidArgument("'" + std::string(host) + "' is not an IPv4 address");
    }
  }
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    return InvalidArgument(port.empty()
                               ? "missing port"
                               : "port '" + std::string(port) + "' is not a number in 1..65535");
  }
  const int number = std::stoi(std::string(port));
  if (number < 1 || number > 65535) {
    return InvalidArgument("port " + std::to_string(number) + " is not in 1..65535");
  }
  return Status::Ok();
}

Status ValidatePeerConfig(PeerConfig& config) {
  if (config.data.empty()) {
    return InvalidArgument("the data folder is required (data: in the file, or --data)", "data");
  }
  if (config.reconnect_min_ms > config.reconnect_max_ms) {
    return InvalidArgument("sync.reconnect_min_ms (" + std::to_string(config.reconnect_min_ms) +
                               ") must not exceed sync.reconnect_max_ms (" +
                               std::to_string(config.reconnect_max_ms) + ")",
                           "sync.reconnect_min_ms");
  }
  // Left at its default, the batch size follows a smaller frame limit instead of refusing it.
  if (config.batch_bytes == PeerConfig{}.batch_bytes &&
      config.batch_bytes > config.max_frame_bytes) {
    config.batch_bytes = std::max<uint64_t>(config.max_frame_bytes / 2, 1);
  }
  if (config.batch_bytes > config.max_frame_bytes) {
    return InvalidArgument("sync.batch_bytes (" + std::to_string(config.batch_bytes) +
                               ") must not exceed sync.max_frame_bytes (" +
                               std::to_string(config.max_frame_bytes) + ")",
                           "sync.batch_bytes");
  }
  return Status::Ok();
}

Result<PeerConfig> ParsePeerConfig(std::string_view yaml, std::string_view file_name) {
  try {
    return Parser(file_name).Run(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("malformed YAML: " + e.msg, Where(file_name, e.mark));
  } catch (const std::exception& e) {
    return Internal(std::string("reading the configuration: ") + e.what(), std::string(file_name));
  }
}

Result<PeerConfig> LoadPeerConfig(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("configuration file " + path + " does not exist", path);
    return IOError("cannot open configuration file " + path + ": " + strerror(err), path);
  }
  std::string text;
  char buf[8192];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return IOError("cannot read configuration file " + path + ": " + strerror(err), path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      close(fd);
      return InvalidArgument("configuration file " + path + " is larger than 1 MiB", path);
    }
  }
  close(fd);
  return ParsePeerConfig(text, path);
}

Status ApplyOverride(PeerConfig& config, std::string_view key, std::string_view value) {
  const Leaf* leaf = FindLeaf(key);
  const std::string where = "--" + std::string(key);
  if (leaf == nullptr) {
    std::string known;
    for (const Leaf& l : kLeaves) known += (known.empty() ? "" : ", ") + std::string(l.name);
    return InvalidArgument("unknown key '" + std::string(key) + "' (known: " + known + ")", where);
  }
  PeerConfig changed = config;  // a bad value leaves `config` as it was
  GROVE_RETURN_IF_ERROR(leaf->apply(changed, Value{value, true, where}));
  config = std::move(changed);
  return Status::Ok();
}

const std::vector<std::string>& PeerConfigKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const Leaf& leaf : kLeaves) k.emplace_back(leaf.name);
    return k;
  }();
  return keys;
}

}  // namespace grove::config
