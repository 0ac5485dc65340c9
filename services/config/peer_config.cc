#include "config/peer_config.h"

#include <algorithm>

#include "config/yaml_table.h"

namespace grove::config {
namespace {

using yaml::Bad;
using yaml::Value;

constexpr uint64_t kMaxCheckpointEvery = 1ull << 40;        // deltas; "never" is 0
constexpr uint64_t kMaxPruneWaitMs = 3650ull * 86'400'000;  // ten years
constexpr std::string_view kCardPrefix = "grove-card:";     // identity.h's; decoding is the peer's
constexpr std::string_view kCardExpect = "a card (one line starting with 'grove-card:')";

// The shape of a card's text: the peer decodes and verifies it (identity::DecodeCardText).
Status CheckCard(std::string_view key, const Value& v) {
  if (v.text.find_first_of("\r\n") != std::string_view::npos) {
    return InvalidArgument(std::string(key) + " must be " + std::string(kCardExpect) +
                               ", got several lines (write it on one line, or quote it)",
                           v.where);
  }
  if (!v.text.starts_with(kCardPrefix)) return Bad(key, kCardExpect, v);
  return Status::Ok();
}

const yaml::Leaf<PeerConfig> kLeaves[] = {
    {"data", "a path",
     [](PeerConfig& c, const Value& v) {
       if (v.text.empty()) return Bad("data", "a path", v);
       c.data = std::string(v.text);
       return Status::Ok();
     }},
    {"listen", "HOST:PORT",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("listen", v));
       c.listen = std::string(v.text);
       return Status::Ok();
     }},
    {"api", "HOST:PORT",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("api", v));
       c.api = std::string(v.text);
       return Status::Ok();
     }},
    {"api.address", "HOST:PORT",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("api.address", v));
       c.api = std::string(v.text);
       return Status::Ok();
     }},
    {"api.web_dir", "a folder path, or \"\"",
     [](PeerConfig& c, const Value& v) {
       c.api_web_dir = std::string(v.text);
       return Status::Ok();
     }},
    {"connect", "a list of HOST:PORT",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::Address("connect", v));
       if (std::find(c.connect.begin(), c.connect.end(), v.text) == c.connect.end()) {
         c.connect.emplace_back(v.text);
       }
       return Status::Ok();
     },
     [](PeerConfig& c) { c.connect.clear(); }, "HOST:PORT"},
    {"log.level", "one of debug, info, warn, error",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::LogLevel("log.level", v));
       c.log_level = std::string(v.text);
       return Status::Ok();
     }},
    {"log.format", "json (the only format for now)",
     [](PeerConfig& c, const Value& v) {
       GROVE_RETURN_IF_ERROR(yaml::LogFormat("log.format", v));
       c.log_format = std::string(v.text);
       return Status::Ok();
     }},
    {"sync.seal_delay_ms", "a non-negative integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::seal_delay_ms, 0, yaml::kMaxMillis>(
           "sync.seal_delay_ms", c, v);
     }},
    {"sync.max_frame_bytes", "a positive integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::max_frame_bytes, 1, yaml::kMaxFrameBytes>(
           "sync.max_frame_bytes", c, v);
     }},
    {"sync.batch_bytes", "a positive integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::batch_bytes, 1, yaml::kMaxFrameBytes>(
           "sync.batch_bytes", c, v);
     }},
    {"sync.reconnect_min_ms", "a positive integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::reconnect_min_ms, 1, yaml::kMaxMillis>(
           "sync.reconnect_min_ms", c, v);
     }},
    {"sync.reconnect_max_ms", "a positive integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::reconnect_max_ms, 1, yaml::kMaxMillis>(
           "sync.reconnect_max_ms", c, v);
     }},
    {"sync.discover", "true or false",
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.discover, yaml::Boolean("sync.discover", v));
       return Status::Ok();
     }},
    {"store.sync_full", "true or false",
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.store_sync_full, yaml::Boolean("store.sync_full", v));
       return Status::Ok();
     }},
    {"attachments.max_bytes", "a positive integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::attachment_max_bytes, 1, kMaxAttachmentBytes>(
           "attachments.max_bytes", c, v);
     }},
    {"relay.address", "HOST:PORT",
     [](PeerConfig& c, const Value& v) {
       if (!v.text.empty()) GROVE_RETURN_IF_ERROR(yaml::Address("relay.address", v));
       c.relay_address = std::string(v.text);
       return Status::Ok();
     }},
    {"relay.card", kCardExpect,
     [](PeerConfig& c, const Value& v) {
       if (!v.text.empty()) GROVE_RETURN_IF_ERROR(CheckCard("relay.card", v));
       c.relay_card = std::string(v.text);
       return Status::Ok();
     }},
    {"audit.db", "a PostgreSQL URL (postgresql://...) or key=value connection string",
     [](PeerConfig& c, const Value& v) {
       c.audit_db = std::string(v.text);
       return Status::Ok();
     }},
    {"audit.head_interval_s", "an integer from 1 to 86400",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::audit_head_interval_s, 1, 86400>(
           "audit.head_interval_s", c, v);
     }},
    {"org.card", "an org card (grove-org:...)",
     [](PeerConfig& c, const Value& v) {
       if (!v.text.empty() && !v.text.starts_with("grove-org:")) {
         return Bad("org.card", "an org card (grove-org:...)", v);
       }
       c.org_card = std::string(v.text);
       return Status::Ok();
     }},
    {"org.enrolment", "an enrolment (grove-enrolment:...)",
     [](PeerConfig& c, const Value& v) {
       if (!v.text.empty() && !v.text.starts_with("grove-enrolment:")) {
         return Bad("org.enrolment", "an enrolment (grove-enrolment:...)", v);
       }
       c.org_enrolment = std::string(v.text);
       return Status::Ok();
     }},
    {"history.checkpoint_every", "a non-negative integer",
     [](PeerConfig& c, const Value& v) {
       return yaml::SetUnsigned<&PeerConfig::history_checkpoint_every, 0, kMaxCheckpointEvery>(
           "history.checkpoint_every", c, v);
     }},
    {"history.prune", "true or false",
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.history_prune, yaml::Boolean("history.prune", v));
       return Status::Ok();
     }},
    {"history.prune_wait", "a duration (a number and a unit: 500ms, 30s, 15m, 12h, 7d)",
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.history_prune_wait_ms,
                              yaml::Duration("history.prune_wait", v, kMaxPruneWaitMs));
       return Status::Ok();
     }},
    {"history.keep_full", "true or false",
     [](PeerConfig& c, const Value& v) {
       GROVE_ASSIGN_OR_RETURN(c.history_keep_full, yaml::Boolean("history.keep_full", v));
       return Status::Ok();
     }},
};

const yaml::Required kRequired[] = {{"data", "the data folder"}};

// When a cross-key rule blames a key the file does not give, the error points at its partner.
const yaml::Partner kPartners[] = {
    {"sync.reconnect_min_ms", "sync.reconnect_max_ms"},
    {"sync.batch_bytes", "sync.max_frame_bytes"},
    {"relay.card", "relay.address"},
    {"relay.address", "relay.card"},
    {"org.enrolment", "org.card"},
    {"org.card", "org.enrolment"},
};

const yaml::YamlTable<PeerConfig>& Table() {
  static const yaml::YamlTable<PeerConfig> table(kLeaves, kRequired, kPartners, ValidatePeerConfig);
  return table;
}

}  // namespace

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
  if (!config.relay_address.empty() && config.relay_card.empty()) {
    return InvalidArgument(
        "relay.card is required with relay.address: the card pins the relay's key (grove-relay "
        "prints it at start and writes it to DATA/relay.card)",
        "relay.card");
  }
  if (config.relay_address.empty() && !config.relay_card.empty()) {
    return InvalidArgument(
        "relay.address is required with relay.card: the card names the relay's key, not where to "
        "reach it (the HOST:PORT of the relay's listen address)",
        "relay.address");
  }
  if (config.org_card.empty() != config.org_enrolment.empty()) {
    return config.org_card.empty()
               ? InvalidArgument(
                     "org.card is required with org.enrolment: it pins the "
                     "organisation CA that signed the enrolment",
                     "org.card")
               : InvalidArgument(
                     "org.enrolment is required with org.card: a device in managed "
                     "mode says hello with its enrolment, which IT issues",
                     "org.enrolment");
  }
  return Status::Ok();
}

Result<PeerConfig> ParsePeerConfig(std::string_view yaml, std::string_view file_name) {
  return Table().Parse(yaml, file_name);
}

Result<PeerConfig> LoadPeerConfig(const std::string& path) { return Table().Load(path); }

Status ApplyOverride(PeerConfig& config, std::string_view key, std::string_view value) {
  return Table().Override(config, key, value);
}

const std::vector<std::string>& PeerConfigKeys() { return Table().Keys(); }

}  // namespace grove::config
