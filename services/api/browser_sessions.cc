#include "api/browser_sessions.h"

#include <algorithm>
#include <array>
#include <utility>

#include "api/http_util.h"
#include "common/bytes.h"

namespace grove::api {

using Outcome = BrowserSessions::SignInResult::Outcome;

BrowserSessions::BrowserSessions(std::string token, Clock& clock, Random& random)
    : BrowserSessions(std::move(token), clock, random, Limits{}) {}

BrowserSessions::BrowserSessions(std::string token, Clock& clock, Random& random, Limits limits)
    : token_(std::move(token)), clock_(clock), limits_(limits), random_(random) {}

std::string BrowserSessions::RandomText() {
  std::array<uint8_t, 32> bytes{};
  random_.Fill(bytes);
  return Base64UrlEncode(ByteView(bytes.data(), bytes.size()));
}

void BrowserSessions::Sweep(uint64_t now) {
  std::erase_if(sessions_, [now](const Session& s) { return s.public_part.expires_ms <= now; });
  std::erase_if(links_, [now](const LoginLinkCode& l) { return l.expires_ms <= now; });
  while (!failures_.empty() && now - failures_.front() >= limits_.failure_window_ms) {
    failures_.pop_front();
  }
}

std::optional<BrowserSessions::SignInResult> BrowserSessions::Locked(uint64_t now) {
  if (now >= locked_until_ms_) return std::nullopt;
  SignInResult result;
  result.outcome = Outcome::kLocked;
  result.retry_after_ms = locked_until_ms_ - now;
  return result;
}

BrowserSessions::SignInResult BrowserSessions::Failure(uint64_t now) {
  failures_.push_back(now);
  if (failures_.size() >= static_cast<size_t>(limits_.max_failures)) {
    locked_until_ms_ = now + limits_.lockout_ms;
    failures_.clear();
  }
  return SignInResult{};
}

BrowserSessions::SignInResult BrowserSessions::NewSession(uint64_t now) {
  if (sessions_.size() >= limits_.max_sessions) {
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const Session& a, const Session& b) { return a.last_used_ms < b.last_used_ms; });
    sessions_.erase(oldest);
  }
  Session session;
  session.public_part.id = RandomText();
  session.public_part.csrf = RandomText();
  session.public_part.expires_ms = now + limits_.idle_ms;
  session.last_used_ms = now;
  sessions_.push_back(session);
  SignInResult result;
  result.outcome = Outcome::kSignedIn;
  result.session = session.public_part;
  return result;
}

BrowserSessions::SignInResult BrowserSessions::SignInWithToken(std::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now = clock_.NowMillis();
  Sweep(now);
  if (auto locked = Locked(now)) return *locked;
  if (!ConstantTimeEqual(token, token_)) return Failure(now);
  return NewSession(now);
}

BrowserSessions::SignInResult BrowserSessions::SignInWithLink(std::string_view code) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now = clock_.NowMillis();
  Sweep(now);
  if (auto locked = Locked(now)) return *locked;
  // Every outstanding code is compared, so timing says nothing of which one came close.
  size_t match = links_.size();
  for (size_t i = 0; i < links_.size(); ++i) {
    if (ConstantTimeEqual(code, links_[i].code)) match = i;
  }
  if (match == links_.size()) return Failure(now);
  links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(match));
  return NewSession(now);
}

std::optional<BrowserSession> BrowserSessions::Find(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now = clock_.NowMillis();
  Sweep(now);
  Session* found = nullptr;
  for (Session& s : sessions_) {
    if (ConstantTimeEqual(id, s.public_part.id)) found = &s;
  }
  if (found == nullptr) return std::nullopt;
  found->last_used_ms = now;
  found->public_part.expires_ms = now + limits_.idle_ms;
  return found->public_part;
}

void BrowserSessions::End(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(sessions_,
                [id](const Session& s) { return ConstantTimeEqual(id, s.public_part.id); });
}

LoginLinkCode BrowserSessions::CreateLink() {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now = clock_.NowMillis();
  Sweep(now);
  if (links_.size() >= limits_.max_links) links_.pop_front();
  links_.push_back(LoginLinkCode{RandomText(), now + limits_.link_ttl_ms});
  return links_.back();
}

size_t BrowserSessions::session_count() {
  std::lock_guard<std::mutex> lock(mu_);
  Sweep(clock_.NowMillis());
  return sessions_.size();
}

}  // namespace grove::api
