#include "audit/search.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <utility>

#include "audit/rows.h"

namespace grove::audit {

namespace {

using internal::ReadTxn;

constexpr uint64_t kMaxTimeMs = 8'000'000'000'000'000;  // as AuditLog::Append
constexpr uint64_t kMsPerDay = 86'400'000;

Status CheckText(const std::optional<std::string>& text, const char* field) {
  if (text && text->find('\0') != std::string::npos) {
    return InvalidArgument("contains a NUL byte", field);
  }
  return Status::Ok();
}

// Reads exactly `n` digits at `pos`, advancing it.
std::optional<int> Digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

// "hh:mm[:ss[.fff]]" at pos; ms since midnight.
std::optional<uint64_t> TimeOfDay(std::string_view s, size_t& pos) {
  std::optional<int> h = Digits(s, pos, 2);
  if (!h || pos >= s.size() || s[pos++] != ':') return std::nullopt;
  std::optional<int> m = Digits(s, pos, 2);
  if (!m || *h > 23 || *m > 59) return std::nullopt;
  int sec = 0, ms = 0;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    std::optional<int> sv = Digits(s, pos, 2);
    if (!sv || *sv > 59) return std::nullopt;
    sec = *sv;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      const size_t start = pos;
      int scale = 100;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        ms += (s[pos] - '0') * scale;  // digits past milliseconds are dropped
        scale /= 10;
        ++pos;
      }
      if (pos == start || pos - start > 9) return std::nullopt;
    }
  }
  return ((uint64_t(*h) * 60 + uint64_t(*m)) * 60 + uint64_t(sec)) * 1000 + uint64_t(ms);
}

// "Z", "+hh:mm", "-hh:mm", "+hhmm" or nothing at pos; the offset east of UTC in ms.
std::optional<int64_t> Offset(std::string_view s, size_t& pos) {
  if (pos == s.size()) return 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
    return 0;
  }
  if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
  const int sign = s[pos++] == '-' ? -1 : 1;
  std::optional<int> h = Digits(s, pos, 2);
  if (pos < s.size() && s[pos] == ':') ++pos;
  std::optional<int> m = Digits(s, pos, 2);
  if (!h || !m || *h > 23 || *m > 59) return std::nullopt;
  return sign * (int64_t(*h) * 60 + *m) * 60'000;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Times as text

std::string FormatTimestampMs(uint64_t unix_ms) {
  // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted), in 64
  // bits: std::chrono::year stops at 32767, and 8e15 ms is in year 255479.
  const uint64_t z = unix_ms / kMsPerDay + 719468;
  const uint64_t era = z / 146097;
  const uint64_t doe = z - era * 146097;
  const uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const uint64_t mp = (5 * doy + 2) / 153;
  const uint64_t day = doy - (153 * mp + 2) / 5 + 1;
  const uint64_t month = mp < 10 ? mp + 3 : mp - 9;
  const uint64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  uint64_t rest = unix_ms % kMsPerDay;
  const uint64_t ms = rest % 1000;
  rest /= 1000;
  char buf[64];
  const int n = std::snprintf(
      buf, sizeof buf, "%04llu-%02llu-%02lluT%02llu:%02llu:%02llu.%03lluZ",
      static_cast<unsigned long long>(year), static_cast<unsigned long long>(month),
      static_cast<unsigned long long>(day), static_cast<unsigned long long>(rest / 3600),
      static_cast<unsigned long long>(rest / 60 % 60), static_cast<unsigned long long>(rest % 60),
      static_cast<unsigned long long>(ms));
  return std::string(buf, static_cast<size_t>(n));
}

Result<uint64_t> ParseTimestampMs(std::string_view text, std::string_view what) {
  const std::string field(what);
  const Status bad = InvalidArgument(
      "'" + std::string(text) +
          "' is neither Unix milliseconds nor an ISO 8601 time (2023-11-14T22:13:20Z)",
      field);
  if (text.empty()) return bad;
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || end != text.data() + text.size() || ms > kMaxTimeMs) {
      return InvalidArgument("'" + std::string(text) + "' is after 8e15 ms", field);
    }
    return ms;
  }
  size_t pos = 0;
  std::optional<int> y = Digits(text, pos, 4);
  if (!y || pos >= text.size() || text[pos++] != '-') return bad;
  std::optional<int> mo = Digits(text, pos, 2);
  if (!mo || pos >= text.size() || text[pos++] != '-') return bad;
  std::optional<int> d = Digits(text, pos, 2);
  if (!d) return bad;
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return InvalidArgument("'" + std::string(text) + "' is not a date", field);
  uint64_t in_day = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    ++pos;
    std::optional<uint64_t> t = TimeOfDay(text, pos);
    if (!t) return bad;
    in_day = *t;
  }
  std::optional<int64_t> offset = Offset(text, pos);
  if (!offset || pos != text.size()) return bad;
  const int64_t day_count = sys_days(ymd).time_since_epoch().count();
  const int64_t ms = day_count * int64_t(kMsPerDay) + int64_t(in_day) - *offset;
  if (ms < 0 || uint64_t(ms) > kMaxTimeMs) {
    return InvalidArgument("'" + std::string(text) + "' is before 1970 or after 8e15 ms", field);
  }
  return static_cast<uint64_t>(ms);
}

// ---------------------------------------------------------------------------------------------
// Search

Status CheckQuery(const Query& q) {
  if (q.workspace && q.workspace->empty()) return InvalidArgument("is empty", "workspace");
  GROVE_RETURN_IF_ERROR(CheckText(q.record, "record"));
  GROVE_RETURN_IF_ERROR(CheckText(q.device, "device"));
  GROVE_RETURN_IF_ERROR(CheckText(q.user_name, "user_name"));
  GROVE_RETURN_IF_ERROR(CheckText(q.op, "op"));
  if (q.from_ms && *q.from_ms > kMaxTimeMs) return InvalidArgument("above 8e15 ms", "from_ms");
  if (q.to_ms && *q.to_ms > kMaxTimeMs) return InvalidArgument("above 8e15 ms", "to_ms");
  if (q.from_ms && q.to_ms && *q.from_ms >= *q.to_ms) {
    return InvalidArgument("must be after from_ms (the range is [from_ms, to_ms))", "to_ms");
  }
  if (q.after_seq && *q.after_seq > uint64_t(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument("above 2^63-1", "after_seq");
  }
  if (q.limit == 0 || q.limit > kMaxSearchLimit) {
    return InvalidArgument("must be 1.." + std::to_string(kMaxSearchLimit), "limit");
  }
  return Status::Ok();
}

namespace internal {

Filter BuildFilter(const Query& q) {
  Filter f;
  auto add = [&f](const std::string& condition, std::string value) {
    f.params.push_back(std::move(value));
    const std::string n = "$" + std::to_string(f.params.size());
    std::string c = condition;
    c.replace(c.find('?'), 1, n);
    f.where += c + " AND ";
  };
  if (q.workspace) add("workspace = ?::bytea", ByteaText(*q.workspace));
  if (q.record) add("record = ?", *q.record);
  if (q.device) add("device = ?", *q.device);
  if (q.user_name) add("user_name = ?", *q.user_name);
  if (q.op) add("op = ?", *q.op);
  if (q.kind) add("kind = ?", std::string(EntryKindName(*q.kind)));
  if (q.from_ms) add("received_at >= ?::timestamptz", TimestampText(*q.from_ms));
  if (q.to_ms) add("received_at < ?::timestamptz", TimestampText(*q.to_ms));
  return f;
}

FoundEntry ToFound(StoredEntry s) {
  FoundEntry found;
  found.entry = std::move(s.entry);
  found.pruned = s.pruned;
  found.leaf_hash = s.leaf_hash.value_or(Hash32{});
  return found;
}

}  // namespace internal

Result<SearchPage> Search(std::string_view url, const Query& query) {
  GROVE_RETURN_IF_ERROR(CheckQuery(query));
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/false));
  const internal::Filter filter = internal::BuildFilter(query);
  std::vector<std::string> params = filter.params;
  params.push_back(std::to_string(query.after_seq ? static_cast<int64_t>(*query.after_seq) : -1));
  params.push_back(std::to_string(query.limit + 1));  // one more tells whether a next page exists
  const std::string sql = std::string("SELECT ") + internal::kEntryColumns +
                          " FROM audit_entries WHERE " + filter.where + "seq > $" +
                          std::to_string(params.size() - 1) + " ORDER BY seq LIMIT $" +
                          std::to_string(params.size());
  SearchPage page;
  const std::string where = session->target().where;
  auto body = [&](pqxx::transaction_base& txn) -> Status {
    page = SearchPage();
    GROVE_RETURN_IF_ERROR(internal::CheckSchema(txn, where));
    const pqxx::result rows = txn.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    for (const pqxx::row& r : rows) {
      if (page.entries.size() == query.limit) {
        page.next_after = page.entries.back().entry.seq;
        break;
      }
      page.entries.push_back(internal::ToFound(internal::ReadEntry(r)));
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session->Transact<ReadTxn>("searching the audit log", body));
  return page;
}

}  // namespace grove::audit
