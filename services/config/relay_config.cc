#include "config/relay_config.h"

#include <algorithm>
#include <optional>

#include "config/yaml_table.h"

namespace grove::config {
namespace {

using yaml::Bad;
using yaml::Value;

constexpr uint64_t kMaxConnectTimeoutS = 86400;
constexpr uint64_t kMaxQuotaBytes = 9223372036854775807;  // PostgreSQL's bigint
constexpr size_t kMaxNameBytes = 128;                     // identity's CheckName
constexpr uint64_t kMaxSeconds = 31536000;                // a year
constexpr uint64_t kMaxArgon2MemoryKib = 4194304;         // 4 GiB (admin/password.h)
constexpr std::string_view kCardPrefix = "grove-card:";   // identity.h's; the relay decodes it
constexpr std::string_view kCardExpect = "a card (one line starting with 'grove-card:'), or ''";

constexpr std::string_view kNameExpect = "a device name (1 to 128 bytes, no control characters)";
constexpr std::string_view kDbExpect =
    "a PostgreSQL URL (postgresql://USER@HOST/DBNAME, or key=value pairs such as "
    "'host=HOST dbname=DBNAME')";

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
// libpq parameters whose values are not secret: RedactDbUrl hides the value of every other one
// (password, sslpassword, and a misspelled "pasword" too).
bool IsShownKey(std::string_view key) {
  static constexpr std::string_view kShown[] = {"host",
                                                "hostaddr",
                                                "port",
                                                "dbname",
                                                "user",
                                                "passfile",
                                                "channel_binding",
                                                "connect_timeout",
                                                "client_encoding",
                                                "options",
                                                "application_name",
                                                "fallback_application_name",
                                                "keepalives",
                                                "keepalives_idle",
                                                "keepalives_interval",
                                                "keepalives_count",
                                                "tcp_user_timeout",
                                                "replication",
                                                "gssencmode",
                                                "sslmode",
                                                "sslnegotiation",
                                                "sslcompression",
                                                "sslcert",
                                                "sslkey",
                                                "sslcertmode",
                                                "sslrootcert",
                                                "sslcrl",
                                                "sslcrldir",
                                                "sslsni",
                                                "requirepeer",
                                                "require_auth",
                                                "ssl_min_protocol_version",
                                                "ssl_max_protocol_version",
                                                "min_protocol_version",
                                                "max_protocol_version",
                                                "krbsrvname",
                                                "gsslib",
                                                "gssdelegation",
                                                "service",
                                                "target_session_attrs",
                                                "load_balance_hosts"};
  return std::find(std::begin(kShown), std::end(kShown), key) != std::end(kShown);
}

// Whether RedactDbUrl shows a parameter's value. A value with '=' in it is hidden unless it belongs
// to `options` ("-c name=value"): it may be the next parameter, run in by a missing space
// ("host=dbpassword=secret").
bool Shown(std::string_view key, std::string_view value) {
  return IsShownKey(key) && (key == "options" || value.find('=') == std::string_view::npos);
}

// The length of a URI prefix libpq accepts ("postgresql://", "postgres://"), or 0.
size_t UriPrefix(std::string_view db) {
  for (std::string_view prefix : {"postgresql://", "postgres://"}) {
    if (db.starts_with(prefix)) return prefix.size();
  }
  return 0;
}

// The scheme of text that looks like a URI ("mysql" in "mysql://..."), if it does.
std::optional<std::string_view> Scheme(std::string_view db) {
  const size_t sep = db.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  const std::string_view scheme = db.substr(0, sep);
  const bool scheme_chars = std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '.' || c == '-';
  });
  if (!scheme_chars) return std::nullopt;
  return scheme;
}

// One key=value pair of a libpq keyword string, as spans of the text.
struct Pair {
  size_t key_begin, key_end;      // the key
  size_t value_begin, value_end;  // the value as written (quotes included)
};

// Reads the pair starting at or after `pos` (whitespace skipped). nullopt with `error` set when
// the text does not parse there, with `pos` at the byte where it stopped; nullopt with `error`
// empty at the end of the text. Follows libpq's conninfo_parse: KEY [ws] = [ws] VALUE, the value
// plain (a backslash escapes the next byte) up to whitespace, or in single quotes.
std::optional<Pair> NextPair(std::string_view text, size_t& pos, std::string& error) {
  error.clear();
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  if (pos == text.size()) return std::nullopt;
  Pair p{};
  p.key_begin = pos;
  while (pos < text.size() && !IsSpace(text[pos]) && text[pos] != '=') ++pos;
  p.key_end = pos;
  const std::string_view key = text.substr(p.key_begin, p.key_end - p.key_begin);
  const bool name = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!name) {
    pos = p.key_begin;
    error = "text that is not a key=value pair at byte " + std::to_string(pos + 1);
    return std::nullopt;
  }
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  if (pos == text.size() || text[pos] != '=') {
    pos = p.key_begin;
    error = "a key without '=' at byte " + std::to_string(pos + 1);
    return std::nullopt;
  }
  ++pos;
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  p.value_begin = pos;
  if (pos < text.size() && text[pos] == '\'') {
    ++pos;
    while (pos < text.size() && text[pos] != '\'') pos += text[pos] == '\\' ? 2 : 1;
    if (pos >= text.size()) {
      pos = p.value_begin;
      error = "an unterminated quoted value at byte " + std::to_string(pos + 1);
      return std::nullopt;
    }
    ++pos;
  } else {
    while (pos < text.size() && !IsSpace(text[pos])) pos += text[pos] == '\\' ? 2 : 1;
    pos = std::min(pos, text.size());
  }
  p.value_end = pos;
  return p;
}

// What is wrong with a db value, or "" when it has the shape libpq takes. Never the value itself.
std::string DbProblem(std::string_view db) {
  if (db.empty()) return "an empty string";
  if (std::any_of(db.begin(), db.end(), IsControl)) return "a value with control characters";
  if (const size_t prefix = UriPrefix(db); prefix != 0) {
    if (std::any_of(db.begin(), db.end(), IsSpace)) {
      return "a URI with a space in it (percent-encode it as %20)";
    }
    return "";
  }
  if (std::optional<std::string_view> scheme = Scheme(db)) {
    return "a URI with the scheme '" + std::string(*scheme) +
           "' (libpq takes postgresql:// or postgres://)";
  }
  size_t pos = 0;
  std::string error;
  while (NextPair(db, pos, error)) {
  }
  return error;
}

Status CheckDb(const Value& v) {
  const std::string problem = DbProblem(v.text);
  if (problem.empty()) return Status::Ok();
  return InvalidArgument("db must be " + std::string(kDbExpect) + ", got " + problem +
                             " (the value is not repeated: it may hold a password)",
                         v.where);
}

Status CheckName(const Value& v) {
  if (v.text.empty() || v.text.size() > kMaxNameBytes ||
      std::any_of(v.text.begin(), v.text.end(), IsControl)) {
    return Bad("name", kNameExpect, v);
  }
  return Status::Ok();
}

// A URI query key with its %XX escapes decoded ("pass%77ord" is "password" to libpq).
std::string DecodeKey(std::string_view key) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '%' && i + 2 < key.size() && hex(key[i + 1]) >= 0 && hex(key[i + 2]) >= 0) {
      out += static_cast<char>(hex(key[i + 1]) * 16 + hex(key[i + 2]));
      i += 2;
    } else {
      out += key[i];
    }
  }
  return out;
}

// Redacts the query of a URI ("a=1&password=x"): the values of parameters that may be secret.
std::string RedactQuery(std::string_view query) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t amp = std::min(query.find('&', pos), query.size());
    const std::string_view param = query.substr(pos, amp - pos);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) {
      if (!param.empty()) out += "***";  // libpq refuses it; it may be a value run in
    } else if (!Shown(DecodeKey(param.substr(0, eq)), param.substr(eq + 1))) {
      out += std::string(param.substr(0, eq + 1)) + "***";
    } else {
      out += param;
    }
    if (amp == query.size()) break;
    out += '&';
    pos = amp + 1;
  }
  return out;
}

std::string RedactUri(std::string_view db, size_t prefix) {
  std::string out(db.substr(0, prefix));
  const std::string_view rest = db.substr(prefix);
  const size_t query = std::min(rest.find('?'), rest.size());
  std::string_view before_query = rest.substr(0, query);
  // The user info ends at the last '@' before the query: a password with a raw '/' or '@' is
  // still covered (a '@' in the path only makes the redaction wider).
  const size_t at = before_query.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view user_info = before_query.substr(0, at);
    const size_t colon = user_info.find(':');
    if (colon != std::string_view::npos) {
      out += std::string(user_info.substr(0, colon + 1)) + "***";
    } else {
      out += user_info;
    }
    before_query = before_query.substr(at);
  }
  out += before_query;
  if (query < rest.size()) out += "?" + RedactQuery(rest.substr(query + 1));
  return out;
}

std::string RedactKeywords(std::string_view db) {
  std::string out;
  size_t pos = 0, copied = 0;
  std::string error;
  while (std::optional<Pair> p = NextPair(db, pos, error)) {
    const std::string_view key = db.substr(p->key_begin, p->key_end - p->key_begin);
    if (!Shown(key, db.substr(p->value_begin, p->value_end - p->value_begin))) {
      out += db.substr(copied, p->value_begin - copied);
      out += "***";
      copied = p->value_end;
    }
  }
  out += db.substr(copied, pos - copied);
  if (!error.empty()) out += "***";  // the rest does not parse: it may hold anything
  return out;
}

// The shape of a card's text: the relay decodes and verifies it at start.
Status CheckCard(std::string_view key, const Value& v) {
  if (v.text.find_first_of("\r\n") != std::string_view::npos) {
    return InvalidArgument(std::string(key) + " must be " + std::string(kCardExpect) +
                               ", got several lines (write it on one line, or quote it)",
                           v.where);
  }
  if (!v.text.empty() && !v.text.starts_with(kCardPrefix)) return Bad(key, kCardExpect, v);
  return Status::Ok();
}

const yaml::Leaf<RelayConfig> kLeaves[] = {
    {"data", "a path",
     [](RelayConfig& c, const Value& v) {
       if (v.text.empty()) return Bad("data", "a path", v);
       c.data = std::string(v.text);
       return Status::Ok();
     }},
    {"name", kNameExpect,
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(CheckName(v));
       c.name = std::string(v.text);
       return Status::Ok();
     }},
    {"listen", "HOST:PORT",
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("listen", v));
       c.listen = std::string(v.text);
       return Status::Ok();
     }},
    {"admin", "HOST:PORT",
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("admin", v));
       c.admin = std::string(v.text);
       return Status::Ok();
     }},
    {"db", kDbExpect,
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(CheckDb(v));
       c.db = std::string(v.text);
       return Status::Ok();
     }},
    {"log.level", "one of debug, info, warn, error",
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::LogLevel("log.level", v));
       c.log_level = std::string(v.text);
       return Status::Ok();
     }},
    {"log.format", "json (the only format for now)",
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::LogFormat("log.format", v));
       c.log_format = std::string(v.text);
       return Status::Ok();
     }},
    {"sync.max_frame_bytes", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::max_frame_bytes, 1, yaml::kMaxFrameBytes>(
           "sync.max_frame_bytes", c, v);
     }},
    {"sync.batch_bytes", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::batch_bytes, 1, yaml::kMaxFrameBytes>(
           "sync.batch_bytes", c, v);
     }},
    {"database.retry_ms", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::db_retry_ms, 1, yaml::kMaxMillis>("database.retry_ms",
                                                                                c, v);
     }},
    {"database.connect_timeout_s", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::db_connect_timeout_s, 1, kMaxConnectTimeoutS>(
           "database.connect_timeout_s", c, v);
     }},
    {"quotas.workspace_bytes", "a non-negative integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::quota_workspace_bytes, 0, kMaxQuotaBytes>(
           "quotas.workspace_bytes", c, v);
     }},
    {"quotas.device_bytes", "a non-negative integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::quota_device_bytes, 0, kMaxQuotaBytes>(
           "quotas.device_bytes", c, v);
     }},
    {"console.session_idle_s", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::session_idle_s, 60, kMaxSeconds>(
           "console.session_idle_s", c, v);
     }},
    {"console.session_max_s", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::session_max_s, 60, kMaxSeconds>(
           "console.session_max_s", c, v);
     }},
    {"console.lockout_failures", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::lockout_failures, 1, 1000>("console.lockout_failures",
                                                                         c, v);
     }},
    {"console.lockout_s", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::lockout_s, 1, kMaxSeconds>("console.lockout_s", c, v);
     }},
    {"console.argon2_passes", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::argon2_passes, 1, 16>("console.argon2_passes", c, v);
     }},
    {"console.argon2_memory_kib", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::argon2_memory_kib, 8, kMaxArgon2MemoryKib>(
           "console.argon2_memory_kib", c, v);
     }},
    {"console.argon2_lanes", "a positive integer",
     [](RelayConfig& c, const Value& v) {
       return yaml::SetUnsigned<&RelayConfig::argon2_lanes, 1, 16>("console.argon2_lanes", c, v);
     }},
    {"console.auditor_card", kCardExpect,
     [](RelayConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(CheckCard("console.auditor_card", v));
       c.auditor_card = std::string(v.text);
       return Status::Ok();
     }},
    {"console.secure_cookie", "true or false",
     [](RelayConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.secure_cookie, yaml::Boolean("console.secure_cookie", v));
       return Status::Ok();
     }},
};

const yaml::Required kRequired[] = {
    {"data", "the relay's data folder"},
    {"db", "the PostgreSQL URL"},
};

const yaml::Partner kPartners[] = {{"sync.batch_bytes", "sync.max_frame_bytes"}};

const yaml::YamlTable<RelayConfig>& Table() {
  static const yaml::YamlTable<RelayConfig> table(kLeaves, kRequired, kPartners,
                                                  ValidateRelayConfig);
  return table;
}

}  // namespace

Status ValidateRelayConfig(RelayConfig& config) {
  if (config.data.empty()) {
    return InvalidArgument("the data folder is required (data: in the file, or --data)", "data");
  }
  if (config.db.empty()) {
    return InvalidArgument("the PostgreSQL URL is required (db: in the file, or --db)", "db");
  }
  // Left at its default, the batch size follows a smaller frame limit instead of refusing it.
  if (config.batch_bytes == RelayConfig{}.batch_bytes &&
      config.batch_bytes > config.max_frame_bytes) {
    config.batch_bytes = std::max<uint64_t>(config.max_frame_bytes / 2, 1);
  }
  if (config.batch_bytes > config.max_frame_bytes) {
    return InvalidArgument("sync.batch_bytes (" + std::to_string(config.batch_bytes) +
                               ") must not exceed sync.max_frame_bytes (" +
                               std::to_string(config.max_frame_bytes) + ")",
                           "sync.batch_bytes");
  }
  if (config.argon2_memory_kib < 8ull * config.argon2_lanes) {
    return InvalidArgument("console.argon2_memory_kib (" +
                               std::to_string(config.argon2_memory_kib) +
                               ") must be at least 8 per lane (console.argon2_lanes is " +
                               std::to_string(config.argon2_lanes) + ")",
                           "console.argon2_memory_kib");
  }
  return Status::Ok();
}

Result<RelayConfig> ParseRelayConfig(std::string_view yaml, std::string_view file_name) {
  return Table().Parse(yaml, file_name);
}

Result<RelayConfig> LoadRelayConfig(const std::string& path) { return Table().Load(path); }

Status ApplyRelayOverride(RelayConfig& config, std::string_view key, std::string_view value) {
  return Table().Override(config, key, value);
}

const std::vector<std::string>& RelayConfigKeys() { return Table().Keys(); }

std::string RedactDbUrl(std::string_view db) {
  if (const size_t prefix = UriPrefix(db); prefix != 0) return RedactUri(db, prefix);
  return RedactKeywords(db);
}

}  // namespace grove::config
