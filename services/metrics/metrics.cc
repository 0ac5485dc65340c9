#include "metrics/metrics.h"

#include "common/utf8.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <type_traits>

namespace grove::metrics {
namespace {

// ---- UTF-8 -----------------------------------------------------------------------------------

// ---- Rendering -------------------------------------------------------------------------------

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendHeader(std::string& out, const internal::FamilyBase& f) {
  out += "# HELP ";
  out += f.name();
  out += ' ';
  AppendHelp(out, f.help());
  out += "\n# TYPE ";
  out += f.name();
  out += ' ';
  out += TypeName(f.type());
  out += '\n';
}

// `name{l1="v1",...,extra_name="extra_value"} ` -- the extra label is for histogram buckets.
void AppendSeries(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  out += name;
  if (!names.empty() || !extra_name.empty()) {
    out += '{';
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out += ',';
      out += names[i];
      out += "=\"";
      AppendLabelValue(out, values[i]);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!names.empty()) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void RenderChild(std::string& out, const internal::FamilyBase& f,
                 const std::vector<std::string>& values, const Counter& c) {
  AppendSeries(out, f.name(), f.label_names(), values);
  AppendUint(out, c.value());
  out += '\n';
}

void RenderChild(std::string& out, const internal::FamilyBase& f,
                 const std::vector<std::string>& values, const Gauge& g) {
  AppendSeries(out, f.name(), f.label_names(), values);
  AppendDouble(out, g.value());
  out += '\n';
}

void RenderChild(std::string& out, const internal::FamilyBase& f,
                 const std::vector<std::string>& values, const Histogram& h) {
  const Histogram::Snapshot snap = h.Collect();
  const std::string bucket = f.name() + "_bucket";
  for (size_t i = 0; i < snap.cumulative.size(); ++i) {
    std::string le;
    if (i < snap.bounds.size()) {
      AppendDouble(le, snap.bounds[i]);
    } else {
      le = "+Inf";
    }
    AppendSeries(out, bucket, f.label_names(), values, "le", le);
    AppendUint(out, snap.cumulative[i]);
    out += '\n';
  }
  AppendSeries(out, f.name() + "_sum", f.label_names(), values);
  AppendDouble(out, snap.sum);
  out += '\n';
  AppendSeries(out, f.name() + "_count", f.label_names(), values);
  AppendUint(out, snap.count);
  out += '\n';
}

// ---- Name rules ------------------------------------------------------------------------------

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsSnakeCase(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string_view> Words(std::string_view name) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (true) {
    const size_t end = name.find('_', start);
    words.push_back(name.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return words;
    start = end + 1;
  }
}

// The rules of `promtool check metrics` (promlint) that a name alone decides.
Status CheckMetricName(std::string_view name, Type type) {
  if (!IsSnakeCase(name)) {
    return InvalidArgument("metric name '" + std::string(name) +
                           "' must be lowercase snake_case: [a-z_][a-z0-9_]*");
  }
  const std::string quoted = "metric name '" + std::string(name) + "'";
  if (type == Type::kCounter && (!EndsWith(name, "_total") || name == "_total")) {
    return InvalidArgument(quoted + ": counter names end in \"_total\"");
  }
  if (type != Type::kCounter && EndsWith(name, "_total")) {
    return InvalidArgument(quoted + ": only counter names end in \"_total\"");
  }
  if (type != Type::kHistogram) {
    for (std::string_view suffix : {"_bucket", "_count", "_sum"}) {
      if (EndsWith(name, suffix)) {
        return InvalidArgument(quoted + ": only histogram names end in \"" + std::string(suffix) +
                               "\"");
      }
    }
  }
  const std::string type_word = TypeName(type);
  const std::vector<std::string_view> words = Words(name);
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] == type_word) {
      return InvalidArgument(quoted + " should not contain its type '" + type_word + "'");
    }
  }
  static constexpr std::string_view kAbbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                        "mb", "gb", "tb", "pb", "m",   "h", "d"};
  for (size_t i = 1; i < words.size(); ++i) {
    for (std::string_view abbreviation : kAbbreviations) {
      if (words[i] == abbreviation) {
        return InvalidArgument(quoted + " contains the abbreviated unit '" +
                               std::string(abbreviation) +
                               "'; spell out base units (seconds, bytes)");
      }
    }
  }
  static constexpr std::string_view kBaseUnits[] = {"amperes", "bytes",  "celsius", "grams",
                                                    "joules",  "kelvin", "meters",  "metres",
                                                    "seconds", "volts"};
  static constexpr std::string_view kPrefixes[] = {
      "pico", "nano", "micro", "milli", "centi", "deci", "deca",  "hecto",
      "kilo", "mega", "giga",  "tera",  "peta",  "exa",  "zetta", "yotta"};
  for (std::string_view word : words) {
    for (std::string_view prefix : kPrefixes) {
      if (word.size() <= prefix.size() || word.substr(0, prefix.size()) != prefix) continue;
      for (std::string_view base : kBaseUnits) {
        if (word.substr(prefix.size()) == base) {
          return InvalidArgument(quoted + ": use the base unit '" + std::string(base) +
                                 "' instead of '" + std::string(word) + "'");
        }
      }
    }
  }
  return Status::Ok();
}

Status CheckLabelNames(std::string_view metric, const std::vector<std::string>& names, Type type) {
  std::set<std::string_view> seen;
  for (const std::string& label : names) {
    const std::string where = "label name '" + label + "' of metric '" + std::string(metric) + "'";
    if (!IsSnakeCase(label)) {
      return InvalidArgument(where + " must be lowercase snake_case: [a-z_][a-z0-9_]*");
    }
    if (label.starts_with("__")) {
      return InvalidArgument(where + ": names starting with \"__\" are reserved");
    }
    if (type == Type::kHistogram && label == "le") {
      return InvalidArgument(where + ": \"le\" is reserved for histogram buckets");
    }
    if (!seen.insert(label).second) return InvalidArgument(where + " is listed twice");
  }
  return Status::Ok();
}

Status CheckBounds(std::string_view metric, std::vector<double>& bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return InvalidArgument("histogram '" + std::string(metric) +
                             "': bucket bounds must be finite numbers");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      return InvalidArgument("histogram '" + std::string(metric) +
                             "': bucket bounds must be strictly increasing");
    }
  }
  return Status::Ok();
}

}  // namespace

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// ---- Histogram -------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot snap;
  snap.bounds = bounds_;
  snap.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snap.cumulative[i] = total;
  }
  snap.count = total;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

std::vector<double> ExponentialBuckets(double start, double factor, size_t count) {
  assert(start > 0 && factor > 1);
  std::vector<double> bounds;
  bounds.reserve(count);
  for (size_t i = 0; i < count; ++i, start *= factor) bounds.push_back(start);
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, size_t count) {
  assert(width > 0);
  std::vector<double> bounds;
  bounds.reserve(count);
  for (size_t i = 0; i < count; ++i) bounds.push_back(start + static_cast<double>(i) * width);
  return bounds;
}

// ---- Families --------------------------------------------------------------------------------

Result<std::vector<std::string>> internal::FamilyBase::Resolve(const Labels& labels) const {
  std::vector<std::string> values(label_names_.size());
  std::vector<bool> given(label_names_.size(), false);
  for (const auto& [name, value] : labels) {
    const auto it = std::find(label_names_.begin(), label_names_.end(), name);
    if (it == label_names_.end()) {
      return InvalidArgument("metric '" + name_ + "' has no label '" + name + "'");
    }
    const size_t i = it - label_names_.begin();
    if (given[i]) {
      return InvalidArgument("label '" + name + "' of metric '" + name_ + "' is given twice");
    }
    given[i] = true;
    values[i] = SanitizeUtf8(value);
  }
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (!given[i]) {
      return InvalidArgument("label '" + label_names_[i] + "' of metric '" + name_ +
                             "' has no value");
    }
  }
  return values;
}

template <typename M>
Family<M>::Family(std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)),
      discard_(NewChild()) {
  // An unlabelled family has exactly one child: export it (as zero) from the start.
  if (this->label_names().empty()) children_.emplace(std::vector<std::string>{}, NewChild());
}

template <typename M>
std::unique_ptr<M> Family<M>::NewChild() const {
  if constexpr (std::is_same_v<M, Histogram>) {
    return std::make_unique<Histogram>(bounds_);
  } else {
    return std::make_unique<M>();
  }
}

template <typename M>
Result<M*> Family<M>::Get(const Labels& labels) {
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> values, Resolve(labels));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(std::move(values), NewChild()).first;
  return it->second.get();
}

template <typename M>
M& Family<M>::With(const Labels& labels) {
  Result<M*> child = Get(labels);
  assert(child.ok() && "metrics: With() called with the wrong label names");
  return child.ok() ? **child : *discard_;
}

template <typename M>
void Family<M>::Render(std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (children_.empty()) return;
  AppendHeader(out, *this);
  for (const auto& [values, child] : children_) RenderChild(out, *this, values, *child);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// Gauges whose values callbacks compute; guarded by the Registry's mutex.
class Registry::CallbackFamily final : public internal::FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  using FamilyBase::Resolve;

  struct Entry {
    uint64_t id;
    std::function<double()> fn;
  };
  std::map<std::vector<std::string>, Entry> entries;

  void Render(std::string& out) const override {
    if (entries.empty()) return;
    AppendHeader(out, *this);
    for (const auto& [values, entry] : entries) {
      AppendSeries(out, name(), label_names(), values);
      AppendDouble(out, entry.fn());
      out += '\n';
    }
  }
};

// ---- CallbackGauge ---------------------------------------------------------------------------

CallbackGauge::CallbackGauge(CallbackGauge&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}

CallbackGauge& CallbackGauge::operator=(CallbackGauge&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void CallbackGauge::Reset() {
  if (registry_ != nullptr) std::exchange(registry_, nullptr)->RemoveCallback(id_);
}

// ---- Registry --------------------------------------------------------------------------------

Registry::Registry() = default;
Registry::~Registry() = default;

Result<internal::FamilyBase*> Registry::Register(std::string_view name, std::string_view help,
                                                 Type type, std::vector<std::string> label_names,
                                                 std::vector<double> bounds, bool callback) {
  GROVE_RETURN_IF_ERROR(CheckMetricName(name, type));
  GROVE_RETURN_IF_ERROR(CheckLabelNames(name, label_names, type));
  if (type == Type::kHistogram) GROVE_RETURN_IF_ERROR(CheckBounds(name, bounds));
  if (help.empty()) return InvalidArgument("metric '" + std::string(name) + "' has no help text");
  std::string clean_help = SanitizeUtf8(help);

  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    internal::FamilyBase* f = it->second.get();
    const bool is_callback = dynamic_cast<CallbackFamily*>(f) != nullptr;
    const std::string quoted = "metric '" + std::string(name) + "'";
    if (f->type() != type || is_callback != callback) {
      return InvalidArgument(quoted + " is already registered as a " +
                             (is_callback ? "callback " : "") + TypeName(f->type()));
    }
    if (f->help() != clean_help) {
      return InvalidArgument(quoted + " is already registered with other help text");
    }
    if (f->label_names() != label_names) {
      return InvalidArgument(quoted + " is already registered with other label names");
    }
    if (type == Type::kHistogram && static_cast<HistogramFamily*>(f)->bounds() != bounds) {
      return InvalidArgument(quoted + " is already registered with other buckets");
    }
    return f;
  }

  std::unique_ptr<internal::FamilyBase> family;
  std::string key(name);
  if (callback) {
    family =
        std::make_unique<CallbackFamily>(key, std::move(clean_help), type, std::move(label_names));
  } else if (type == Type::kCounter) {
    family.reset(new CounterFamily(key, std::move(clean_help), type, std::move(label_names), {}));
  } else if (type == Type::kGauge) {
    family.reset(new GaugeFamily(key, std::move(clean_help), type, std::move(label_names), {}));
  } else {
    family.reset(new HistogramFamily(key, std::move(clean_help), type, std::move(label_names),
                                     std::move(bounds)));
  }
  internal::FamilyBase* raw = family.get();
  families_.emplace(std::move(key), std::move(family));
  return raw;
}

Result<CounterFamily*> Registry::Counter(std::string_view name, std::string_view help,
                                         std::vector<std::string> label_names) {
  GROVE_ASSIGN_OR_RETURN(internal::FamilyBase * f,
                         Register(name, help, Type::kCounter, std::move(label_names), {}, false));
  return static_cast<CounterFamily*>(f);
}

Result<GaugeFamily*> Registry::Gauge(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names) {
  GROVE_ASSIGN_OR_RETURN(internal::FamilyBase * f,
                         Register(name, help, Type::kGauge, std::move(label_names), {}, false));
  return static_cast<GaugeFamily*>(f);
}

Result<HistogramFamily*> Registry::Histogram(std::string_view name, std::string_view help,
                                             std::vector<std::string> label_names,
                                             std::vector<double> bounds) {
  GROVE_ASSIGN_OR_RETURN(
      internal::FamilyBase * f,
      Register(name, help, Type::kHistogram, std::move(label_names), std::move(bounds), false));
  return static_cast<HistogramFamily*>(f);
}

Result<CallbackGauge> Registry::GaugeCallback(std::string_view name, std::string_view help,
                                              const Labels& labels, std::function<double()> fn) {
  if (!fn) return InvalidArgument("metric '" + std::string(name) + "': empty callback");
  std::vector<std::string> label_names;
  for (const auto& label : labels) label_names.push_back(label.first);
  std::sort(label_names.begin(), label_names.end());
  GROVE_ASSIGN_OR_RETURN(internal::FamilyBase * f,
                         Register(name, help, Type::kGauge, std::move(label_names), {}, true));
  auto* family = static_cast<CallbackFamily*>(f);
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> values, family->Resolve(labels));
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_callback_id_++;
  if (!family->entries.emplace(std::move(values), CallbackFamily::Entry{id, std::move(fn)})
           .second) {
    return InvalidArgument("metric '" + std::string(name) +
                           "' already has a callback for these label values");
  }
  return CallbackGauge(this, id);
}

void Registry::RemoveCallback(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, family] : families_) {
    auto* callbacks = dynamic_cast<CallbackFamily*>(family.get());
    if (callbacks == nullptr) continue;
    for (auto it = callbacks->entries.begin(); it != callbacks->entries.end(); ++it) {
      if (it->second.id == id) {
        callbacks->entries.erase(it);
        return;
      }
    }
  }
}

std::string Registry::Exposition() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_) family->Render(out);
  return out;
}

namespace {

template <typename T>
T* MustRegister(Result<T*> registered, std::string_view name) {
  if (!registered.ok()) {
    std::fprintf(stderr, "metric %.*s cannot be registered: %s\n", static_cast<int>(name.size()),
                 name.data(), registered.status().ToString().c_str());
    std::abort();
  }
  return registered.value();
}

}  // namespace

Counter& UnlabelledCounter(Registry& registry, std::string_view name, std::string_view help) {
  return MustRegister(registry.Counter(name, help), name)->With({});
}

Gauge& UnlabelledGauge(Registry& registry, std::string_view name, std::string_view help) {
  return MustRegister(registry.Gauge(name, help), name)->With({});
}

Histogram& UnlabelledHistogram(Registry& registry, std::string_view name, std::string_view help,
                               std::vector<double> bounds) {
  return MustRegister(registry.Histogram(name, help, {}, std::move(bounds)), name)->With({});
}

}  // namespace grove::metrics
