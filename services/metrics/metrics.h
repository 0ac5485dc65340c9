// Metrics: a small, thread-safe registry of Prometheus metrics and its text exposition.
//
// A Registry holds metric families by name: counters, gauges and histograms, each with a fixed
// list of label names, and callback gauges whose value is computed when the registry is scraped
// (e.g. the store's size). A family hands out one child per set of label values; the child is made
// on first use and lives as long as the Registry. Looking a child up takes the family's mutex, so a
// hot path looks it up once and keeps the reference: Inc/Set/Observe on a child are lock-free
// atomic operations, safe from any thread.
//
//   auto deltas = registry.Counter("grove_deltas_received_total", "Deltas received from peers",
//                                  {"workspace"});
//   if (!deltas.ok()) return deltas.status();
//   metrics::Counter& received = (*deltas)->With({{"workspace", "ab12"}});  // keep this
//   received.Inc(n);
//
// Registration checks names and returns InvalidArgument for a bad one, so that Exposition() always
// passes `promtool check metrics`: names are lowercase snake_case ([a-z_][a-z0-9_]*, label names
// not starting with "__"); counter names end in "_total" and no other name does; only histograms
// end in "_bucket", "_sum" or "_count"; a name does not contain its own type ("_gauge"), an
// abbreviated unit ("_ms", "_kb", ...) or a prefixed unit ("milliseconds": use base units, i.e.
// seconds and bytes); help text is not empty; histograms do not use the label "le". Registering a
// name again with the same type, help, label names (and buckets) returns the same family; with
// anything different it is InvalidArgument.
//
// Exposition() renders the Prometheus text format 0.0.4: families sorted by name, each with
// "# HELP" and "# TYPE" lines, children sorted by label values; label values escape \\, \" and \n,
// and invalid UTF-8 in them is replaced by U+FFFD; histograms render cumulative
// name_bucket{le="..."} lines ending with le="+Inf", then name_sum and name_count. A family with no
// children yet is left out. Values read while other threads update them are each exact but not a
// snapshot of one instant (a histogram's _sum may lag its buckets by an observation in flight).
//
// Thread safety: every method of every class here may be called from any thread.
// Lifetimes: families and children belong to the Registry; pointers and references to them stay
// valid until the Registry is destroyed. A CallbackGauge handle must not outlive its Registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace grove::metrics {

// Label name -> value pairs naming one child of a family, in any order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// The Content-Type an HTTP handler serving Exposition() should send.
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A monotonically increasing count (of events, bytes, ...).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (connected peers, queue length).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double d = 1) { value_.fetch_add(d, std::memory_order_relaxed); }
  void Dec(double d = 1) { value_.fetch_sub(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with explicit upper bounds (inclusive: v <= bound), plus an
// implicit +Inf bucket, their sum and count. NaN observations are ignored.
class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing and finite (Registry::Histogram checks this).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;        // the finite upper bounds
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 counts, the last one for +Inf
    uint64_t count = 0;                // == cumulative.back()
    double sum = 0;
  };
  Snapshot Collect() const;

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Upper bounds start, start*factor, ... (`count` of them). REQUIRES start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, size_t count);
// Upper bounds start, start+width, ... (`count` of them). REQUIRES width > 0.
std::vector<double> LinearBuckets(double start, double width, size_t count);

enum class Type { kCounter, kGauge, kHistogram };
const char* TypeName(Type type);  // "counter", "gauge", "histogram"

namespace internal {
// What the Registry keeps and renders; not for use outside this module.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends this family's lines (nothing when it has no children).
  virtual void Render(std::string& out) const = 0;

 protected:
  // `labels` as values in label_names() order, invalid UTF-8 replaced; InvalidArgument when
  // `labels` does not name each label exactly once.
  Result<std::vector<std::string>> Resolve(const Labels& labels) const;

 private:
  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};
}  // namespace internal

// A family of children of type M (Counter, Gauge or Histogram) told apart by label values.
template <typename M>
class Family final : public internal::FamilyBase {
 public:
  // The child for `labels`, made on first use. InvalidArgument when `labels` does not give each of
  // the family's label names exactly one value.
  Result<M*> Get(const Labels& labels);

  // Get() for labels known to be right. A wrong set is a bug: it asserts in debug builds; in
  // release builds the returned child is one that is never exported.
  M& With(const Labels& labels);

  // Bucket bounds (histogram families only).
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds);
  void Render(std::string& out) const override;
  std::unique_ptr<M> NewChild() const;

  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;  // by label values
  std::unique_ptr<M> discard_;                                       // With() misuse lands here
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry;

// Keeps a callback gauge registered: destroying (or resetting) the handle removes the callback,
// and once that returns the callback is not running and is never called again.
class [[nodiscard]] CallbackGauge {
 public:
  CallbackGauge() = default;
  ~CallbackGauge() { Reset(); }
  CallbackGauge(CallbackGauge&& other) noexcept;
  CallbackGauge& operator=(CallbackGauge&& other) noexcept;
  CallbackGauge(const CallbackGauge&) = delete;
  CallbackGauge& operator=(const CallbackGauge&) = delete;

  void Reset();
  bool active() const { return registry_ != nullptr; }

 private:
  friend class Registry;
  CallbackGauge(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers (or finds, see the rules above) a family. The pointer stays valid for the
  // Registry's lifetime.
  Result<CounterFamily*> Counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names = {});
  Result<GaugeFamily*> Gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names = {});
  // `bounds`: finite, strictly increasing upper bounds (a trailing +Inf is dropped: it is always
  // there). InvalidArgument otherwise.
  Result<HistogramFamily*> Histogram(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds);

  // Registers a gauge child whose value `fn` returns at every Exposition(). Several callbacks may
  // share a name (same help and label names) with different label values; InvalidArgument when
  // the name is a plain gauge or another type, or these label values already have a callback.
  // `fn` runs on the scraping thread with the registry's lock held: it must be quick and must not
  // call this Registry (it may use families and children). Keep the handle: the callback is
  // removed when it goes.
  Result<CallbackGauge> GaugeCallback(std::string_view name, std::string_view help,
                                      const Labels& labels, std::function<double()> fn);

  // The text exposition (format 0.0.4) of every family; see the top of this file.
  std::string Exposition() const;

 private:
  friend class CallbackGauge;
  class CallbackFamily;

  Result<internal::FamilyBase*> Register(std::string_view name, std::string_view help, Type type,
                                         std::vector<std::string> label_names,
                                         std::vector<double> bounds, bool callback);
  void RemoveCallback(uint64_t id);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<internal::FamilyBase>, std::less<>> families_;
  uint64_t next_callback_id_ = 1;
};

// The one child of an unlabelled metric a node declares at start, with a name and help fixed in
// its source. A registration error there is a bug in that source, not a runtime condition:
// these print it and abort.
Counter& UnlabelledCounter(Registry& registry, std::string_view name, std::string_view help);
Gauge& UnlabelledGauge(Registry& registry, std::string_view name, std::string_view help);
Histogram& UnlabelledHistogram(Registry& registry, std::string_view name, std::string_view help,
                               std::vector<double> bounds);

}  // namespace grove::metrics
