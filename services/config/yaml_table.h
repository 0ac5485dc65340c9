// YamlTable: the machinery shared by the configuration files (peer_config, relay_config), internal
// to the config library (yaml-cpp stays out of this header). A configuration type describes its
// keys as a table of leaves; YamlTable<Config> parses a file strictly into a Config, applies
// command-line overrides by dotted key, and lists the keys.
//
//   leaf        one key by its dotted name ("sync.seal_delay_ms") with a function that checks a
//               value and stores it. A leaf with a `clear` function is a list: the file gives a
//               YAML sequence, which replaces the current list (clear runs first, then `apply`
//               for each entry in order); an override adds one entry.
//   section     the first part of a dotted name ("sync"): written in the file as a mapping. An
//               empty section keeps the defaults.
//   required    keys the file must give (a flag cannot stand in for them in ParseX/LoadX).
//   validate    the config's cross-key rules, run after the file (and by the caller after its
//               overrides). It reports the key to blame in where(); the parse moves that to the
//               key's position in the file, or to its partner's when the key is not in the file.
//
// Errors are InvalidArgument with where() "FILE:LINE:COL" (1-based) of the offending key or value,
// and the message forms documented in peer_config.h: unknown key (with a typo suggestion and the
// known keys), a key given twice, a value of the wrong kind, a list entry given twice, several
// YAML documents, malformed YAML (yaml-cpp's message and position), a missing required key (where
// is the file name). Load: NotFound / IOError / InvalidArgument for a file over 1 MiB. Override:
// where is "--KEY". No exception escapes (one from yaml-cpp other than a parse error is Internal).
//
// Thread safety: a YamlTable is immutable after construction; its functions are pure (Load reads
// the file).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace grove::config::yaml {

constexpr uint64_t kMaxMillis = 2147483647;      // consumers keep delays in an int
constexpr uint64_t kMaxFrameBytes = 4294967295;  // frames carry a 32-bit length prefix

// One scalar value, from the file or the command line.
struct Value {
  std::string_view text;
  bool plain = true;  // unquoted in YAML (command-line values count as plain)
  std::string where;  // "FILE:LINE:COL" or "--KEY"
};

// ---- Value checks: InvalidArgument at v.where naming `key` ------------------------------------

std::string Quote(std::string_view text);  // 'text'
// "KEY must be EXPECT, got 'TEXT'" (or "got the quoted string \"TEXT\"" when it was quoted).
Status Bad(std::string_view key, std::string_view expect, const Value& v);
// Plain decimal digits in min..max ("a non-negative integer" when min is 0, else "a positive
// integer"; "must be at most MAX" above max; "must be at least MIN" below a min above 1).
Result<uint64_t> Unsigned(std::string_view key, const Value& v, uint64_t min, uint64_t max);
// Plain true/True/TRUE or false/False/FALSE.
Result<bool> Boolean(std::string_view key, const Value& v);
// A plain duration in milliseconds: decimal digits and a unit, ms, s, m, h or d ("500ms", "30s",
// "15m", "12h", "7d"), or 0 alone; at most max_ms.
Result<uint64_t> Duration(std::string_view key, const Value& v, uint64_t max_ms);
// HOST:PORT per CheckHostPort (peer_config.h).
Status Address(std::string_view key, const Value& v);
// Plain debug, info, warn or error.
Status LogLevel(std::string_view key, const Value& v);
// Plain json.
Status LogFormat(std::string_view key, const Value& v);

// Stores an unsigned value in kMin..kMax into the member `Field` of the config.
template <auto Field, uint64_t kMin, uint64_t kMax, typename Config>
Status SetUnsigned(std::string_view key, Config& c, const Value& v) {
  GROVE_ASSIGN_OR_RETURN(uint64_t n, Unsigned(key, v, kMin, kMax));
  c.*Field = static_cast<std::remove_reference_t<decltype(c.*Field)>>(n);
  return Status::Ok();
}

// ---- Tables -----------------------------------------------------------------------------------

template <typename Config>
struct Leaf {
  std::string_view name;                   // dotted: "sync.seal_delay_ms"
  std::string_view expect;                 // completes "NAME must be ..."
  Status (*apply)(Config&, const Value&);  // checks one value and stores it (a list: adds it)
  void (*clear)(Config&) = nullptr;        // a list leaf: empties the list; nullptr: a scalar
  std::string_view entry = {};             // a list leaf: what one entry must be ("HOST:PORT")
};

struct Required {
  std::string_view key;   // "data"
  std::string_view what;  // "the data folder": "missing required key 'data' (the data folder)"
};

// When validate blames `key` and the file does not give it, the error points at `instead`.
struct Partner {
  std::string_view key;
  std::string_view instead;
};

namespace detail {

// The config-type-independent view of a table, implemented by YamlTable<Config>.
class Leaves {
 public:
  virtual ~Leaves() = default;
  virtual size_t size() const = 0;
  virtual std::string_view name(size_t i) const = 0;
  virtual std::string_view expect(size_t i) const = 0;
  virtual std::string_view entry(size_t i) const = 0;
  virtual bool is_list(size_t i) const = 0;
  virtual Status Apply(size_t i, void* config, const Value& v) const = 0;
  virtual void Clear(size_t i, void* config) const = 0;
};

using Positions = std::map<std::string, std::string>;  // leaf name -> where its value is

// Parses `yaml` into `config` (the leaves' apply/clear get it) and records where each leaf's value
// was. The required keys and cross-key rules are the caller's.
Status Parse(const Leaves& leaves, std::string_view yaml, std::string_view file, void* config,
             Positions& positions);
// The required keys, then `validate` with its blame moved into the file.
Status Finish(std::string_view file, const Positions& positions, std::span<const Required> required,
              std::span<const Partner> partners, const Status& validated);
// The file's text, refusing one over 1 MiB.
Result<std::string> ReadFile(const std::string& path);
// The leaf named `key`, or InvalidArgument at "--KEY" listing the known keys.
Result<size_t> FindOverride(const Leaves& leaves, std::string_view key);

}  // namespace detail

template <typename Config>
class YamlTable final : private detail::Leaves {
 public:
  YamlTable(std::span<const Leaf<Config>> leaves, std::span<const Required> required,
            std::span<const Partner> partners, Status (*validate)(Config&))
      : leaves_(leaves), required_(required), partners_(partners), validate_(validate) {
    for (const Leaf<Config>& leaf : leaves_) keys_.emplace_back(leaf.name);
  }

  // Parses `yaml`, naming `file` in error positions; keys not in the text keep their defaults.
  Result<Config> Parse(std::string_view yaml, std::string_view file) const {
    Config config;
    detail::Positions positions;
    GROVE_RETURN_IF_ERROR(detail::Parse(*this, yaml, file, &config, positions));
    Status validated = validate_(config);
    GROVE_RETURN_IF_ERROR(detail::Finish(file, positions, required_, partners_, validated));
    return config;
  }

  Result<Config> Load(const std::string& path) const {
    GROVE_ASSIGN_OR_RETURN(std::string text, detail::ReadFile(path));
    return Parse(text, path);
  }

  // One command-line value for the leaf `key`; a bad value leaves `config` as it was.
  Status Override(Config& config, std::string_view key, std::string_view value) const {
    GROVE_ASSIGN_OR_RETURN(size_t i, detail::FindOverride(*this, key));
    Config changed = config;
    GROVE_RETURN_IF_ERROR(leaves_[i].apply(changed, Value{value, true, "--" + std::string(key)}));
    config = std::move(changed);
    return Status::Ok();
  }

  // Every leaf's dotted name, in table order.
  const std::vector<std::string>& Keys() const { return keys_; }

 private:
  size_t size() const override { return leaves_.size(); }
  std::string_view name(size_t i) const override { return leaves_[i].name; }
  std::string_view expect(size_t i) const override { return leaves_[i].expect; }
  std::string_view entry(size_t i) const override { return leaves_[i].entry; }
  bool is_list(size_t i) const override { return leaves_[i].clear != nullptr; }
  Status Apply(size_t i, void* config, const Value& v) const override {
    return leaves_[i].apply(*static_cast<Config*>(config), v);
  }
  void Clear(size_t i, void* config) const override {
    if (leaves_[i].clear != nullptr) leaves_[i].clear(*static_cast<Config*>(config));
  }

  std::span<const Leaf<Config>> leaves_;
  std::span<const Required> required_;
  std::span<const Partner> partners_;
  Status (*validate_)(Config&);
  std::vector<std::string> keys_;
};

}  // namespace grove::config::yaml
