#include "config/yaml_table.h"

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

#include "config/peer_config.h"  // CheckHostPort

namespace grove::config {
namespace yaml {
namespace {

// A configuration file larger than this is a mistake (a wrong path), not a configuration.
constexpr size_t kMaxFileBytes = 1 << 20;

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

using detail::Leaves;
using detail::Positions;

const size_t kNoLeaf = static_cast<size_t>(-1);

size_t FindLeaf(const Leaves& leaves, std::string_view name) {
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (leaves.name(i) == name) return i;
  }
  return kNoLeaf;
}

// A top-level name that groups dotted leaves ("sync" for "sync.batch_bytes").
bool IsSection(const Leaves& leaves, std::string_view name) {
  for (size_t i = 0; i < leaves.size(); ++i) {
    const std::string_view leaf = leaves.name(i);
    const size_t dot = leaf.find('.');
    if (dot != std::string_view::npos && leaf.substr(0, dot) == name) return true;
  }
  return false;
}

// The keys that may appear inside `section` ("" for the top level), without the section prefix.
std::vector<std::string> KnownKeys(const Leaves& leaves, std::string_view section) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const std::string_view name = leaves.name(i);
    const size_t dot = name.find('.');
    const std::string_view head = name.substr(0, dot);
    if (section.empty()) {
      if (keys.empty() || keys.back() != head) keys.emplace_back(head);
    } else if (dot != std::string_view::npos && head == section) {
      keys.emplace_back(name.substr(dot + 1));
    }
  }
  return keys;
}

Status UnknownKey(const Leaves& leaves, std::string_view section, std::string_view key,
                  std::string where) {
  const std::vector<std::string> known = KnownKeys(leaves, section);
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
  Parser(const Leaves& leaves, std::string_view file, void* config, Positions& positions)
      : leaves_(leaves), file_(file), config_(config), where_(positions) {}

  Status Run(std::string_view yaml) {
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
    return Status::Ok();
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
      // A name that is both a leaf and a section ("api" and "api.web_dir") takes a scalar as the
      // leaf's value and a mapping as the section.
      const bool scalar_leaf = value.IsScalar() && FindLeaf(leaves_, name) != kNoLeaf;
      if (section.empty() && IsSection(leaves_, key) && !scalar_leaf) {
        if (value.IsNull()) continue;  // an empty section keeps the defaults
        if (!value.IsMap()) {
          return InvalidArgument(name + " must be a mapping of keys, got " + Describe(value),
                                 Where(file_, value.Mark()));
        }
        GROVE_RETURN_IF_ERROR(Map(value, key));
        continue;
      }
      const size_t leaf = FindLeaf(leaves_, name);
      if (leaf == kNoLeaf) return UnknownKey(leaves_, section, key, key_where);
      GROVE_RETURN_IF_ERROR(Apply(leaf, value, key_where));
    }
    return Status::Ok();
  }

  Status Apply(size_t leaf, const YAML::Node& node, const std::string& key_where) {
    const std::string name(leaves_.name(leaf));
    const std::string expect(leaves_.expect(leaf));
    if (node.IsNull()) {
      // yaml-cpp marks an empty value at the next token: the key's position is the useful one.
      return InvalidArgument(name + " must be " + expect + ", got nothing", key_where);
    }
    where_[name] = Where(file_, node.Mark());
    if (leaves_.is_list(leaf)) {
      const std::string entry(leaves_.entry(leaf));
      if (!node.IsSequence()) {
        return InvalidArgument(name + " must be " + expect + ", got " + Describe(node) +
                                   " (write [ \"" + entry + "\", ... ])",
                               where_[name]);
      }
      leaves_.Clear(leaf, config_);  // the file's list replaces the defaults
      std::map<std::string, std::string> first_at;
      for (const YAML::Node& item : node) {
        if (!item.IsScalar()) {
          return InvalidArgument(name + " entries must be " + entry + ", got " + KindOf(item),
                                 Where(file_, item.Mark()));
        }
        Value v{item.Scalar(), item.Tag() == "?", Where(file_, item.Mark())};
        auto [first, inserted] = first_at.emplace(item.Scalar(), v.where);
        if (!inserted) {
          return InvalidArgument(
              name + " lists " + Quote(v.text) + " twice (first at " + first->second + ")",
              v.where);
        }
        GROVE_RETURN_IF_ERROR(leaves_.Apply(leaf, config_, v));
      }
      return Status::Ok();
    }
    if (!node.IsScalar()) {
      std::string msg = name + " must be " + expect + ", got " + KindOf(node);
      if (expect == "HOST:PORT" && node.IsSequence()) {
        msg += " (quote an IPv6 address: \"[::1]:7400\")";
      }
      return InvalidArgument(std::move(msg), where_[name]);
    }
    return leaves_.Apply(leaf, config_, Value{node.Scalar(), node.Tag() == "?", where_[name]});
  }

  const Leaves& leaves_;
  std::string_view file_;
  void* config_;
  Positions& where_;
};

}  // namespace

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
  if (n < min && min > 1) {
    return InvalidArgument(
        std::string(key) + " must be at least " + std::to_string(min) + ", got " + Quote(v.text),
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

Result<uint64_t> Duration(std::string_view key, const Value& v, uint64_t max_ms) {
  constexpr std::string_view kExpect = "a duration (a number and a unit: 500ms, 30s, 15m, 12h, 7d)";
  if (!v.plain) return Bad(key, kExpect, v);
  if (v.text == "0") return uint64_t{0};
  size_t digits = 0;
  while (digits < v.text.size() && v.text[digits] >= '0' && v.text[digits] <= '9') ++digits;
  const std::string_view unit = v.text.substr(digits);
  uint64_t scale = 0;
  for (const auto& [name, ms] : {std::pair<std::string_view, uint64_t>{"ms", 1},
                                 {"s", 1000},
                                 {"m", 60'000},
                                 {"h", 3'600'000},
                                 {"d", 86'400'000}}) {
    if (unit == name) scale = ms;
  }
  if (digits == 0 || scale == 0) return Bad(key, kExpect, v);
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + digits, n);
  if (ec != std::errc() || end != v.text.data() + digits || n > max_ms / scale) {
    return InvalidArgument(std::string(key) + " must be at most " + std::to_string(max_ms / scale) +
                               std::string(unit) + ", got " + Quote(v.text),
                           v.where);
  }
  return n * scale;
}

Status Address(std::string_view key, const Value& v) {
  Status s = CheckHostPort(v.text);
  if (s.ok()) return s;
  return InvalidArgument(
      std::string(key) + " must be HOST:PORT, got " + Quote(v.text) + ": " + s.message(), v.where);
}

Status LogLevel(std::string_view key, const Value& v) {
  if (!v.plain ||
      (v.text != "debug" && v.text != "info" && v.text != "warn" && v.text != "error")) {
    return Bad(key, "one of debug, info, warn, error", v);
  }
  return Status::Ok();
}

Status LogFormat(std::string_view key, const Value& v) {
  if (!v.plain || v.text != "json") return Bad(key, "json (the only format for now)", v);
  return Status::Ok();
}

namespace detail {

Status Parse(const Leaves& leaves, std::string_view yaml, std::string_view file, void* config,
             Positions& positions) {
  try {
    return Parser(leaves, file, config, positions).Run(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("malformed YAML: " + e.msg, Where(file, e.mark));
  } catch (const std::exception& e) {
    return Internal(std::string("reading the configuration: ") + e.what(), std::string(file));
  }
}

Status Finish(std::string_view file, const Positions& positions, std::span<const Required> required,
              std::span<const Partner> partners, const Status& validated) {
  for (const Required& r : required) {
    if (!positions.count(std::string(r.key))) {
      return InvalidArgument(
          "missing required key '" + std::string(r.key) + "' (" + std::string(r.what) + ")",
          std::string(file));
    }
  }
  if (validated.ok()) return validated;
  // The config's validation names the key to blame in where(); point at it in the file instead,
  // or at its partner when the file does not give it.
  std::string key = validated.where();
  if (!positions.count(key)) {
    for (const Partner& p : partners) {
      if (p.key == key) {
        key = std::string(p.instead);
        break;
      }
    }
  }
  auto it = positions.find(key);
  return InvalidArgument(validated.message(),
                         it != positions.end() ? it->second : std::string(file));
}

Result<std::string> ReadFile(const std::string& path) {
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
  return text;
}

Result<size_t> FindOverride(const Leaves& leaves, std::string_view key) {
  const size_t leaf = FindLeaf(leaves, key);
  if (leaf != kNoLeaf) return leaf;
  std::string known;
  for (size_t i = 0; i < leaves.size(); ++i) {
    known += (known.empty() ? "" : ", ") + std::string(leaves.name(i));
  }
  return InvalidArgument("unknown key '" + std::string(key) + "' (known: " + known + ")",
                         "--" + std::string(key));
}

}  // namespace detail
}  // namespace yaml

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

}  // namespace grove::config
