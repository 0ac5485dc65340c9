// api::HttpApi — the peer's local HTTP API: JSON over HTTP/1.1, versioned under /api/v1, served
// by Poco::Net::HTTPServer on a loopback address and answered by a Backend (api/backend.h).
//
//   GET    /                                         302 to /app/                    no token
//   GET    /app/, /app/{name}                        the web app's files (below)     no token
//   GET    /healthz                                  200 {"status":"ok"}             no token
//   GET    /metrics                                  200 Prometheus text (0.0.4)     no token
//   POST   /api/v1/sessions                          {token} | {link} -> 201 {csrf, expires_ms}
//          + Set-Cookie; 401 wrong; 429 locked       no token
//   GET    /api/v1/sessions/current                  {csrf, expires_ms}; 401 without a session
//   DELETE /api/v1/sessions/current                  204, cookie cleared             no token
//   POST   /api/v1/login-links                       201 {url, code, expires_ms}
//   GET    /api/v1/identity                          {device, name, card}
//   GET    /api/v1/status                            {listen, uptime_ms, connections, workspaces,
//          sync: {state, pending, offline_since_ms}, relay, org, audit}
//   POST   /api/v1/workspaces                        {name, tools} -> 201 {id}
//   GET    /api/v1/workspaces                        [workspace...]
//   GET    /api/v1/workspaces/{ws}                   workspace
//   GET    /api/v1/workspaces/{ws}/members           [{device, name, role, online, path}]
//   POST   /api/v1/workspaces/{ws}/members           {card, role} -> 201 {}
//   DELETE /api/v1/workspaces/{ws}/members/{device}  204
//   GET    /api/v1/invitations                       [{workspace, name, from, from_name, role}]
//   POST   /api/v1/invitations/{ws}/accept           200 {id}
//   GET    /api/v1/workspaces/{ws}/tools             [tool...] (types, fields, transitions)
//   POST   /api/v1/workspaces/{ws}/records           {type, fields} -> 201 {id}
//   GET    /api/v1/workspaces/{ws}/records?type=&state=&where.F=&search=&sort=&order=&offset=
//          &limit=&archived=&due_before=             {records: [record...], total, offset, limit}
//   GET    /api/v1/workspaces/{ws}/records/{id}      record (with its transitions' availability)
//   PATCH  /api/v1/workspaces/{ws}/records/{id}      {set: {f: value}, add: {f: int}} -> record
//   POST   .../records/{id}/transitions              {name, fields} -> record; 403/409 + rule
//   POST   .../records/{id}/rights                   {field, key, to, amount} -> record
//   GET    /api/v1/workspaces/{ws}/digest            {version, state, deltas}
//   POST   /api/v1/workspaces/{ws}/attachments?name=&type=   raw file -> 201 {id, size, chunks,
//          name, media_type}; 413 over the peer's attachment limit (streamed, not buffered)
//   GET    /api/v1/workspaces/{ws}/attachments/{id}  the file, fetched from members on demand
//          and streamed while the rest arrives; 503 when no connected member has the start
//   GET    .../attachments/{id}/status               {..., manifest, chunks_held, bytes_held,
//          state}
//   GET    /api/v1/events                            text/event-stream (server-sent events)
//
// schemas/openapi.yaml is the full contract (shapes, values, errors); a test keeps it in step
// with Routes(). Every route marked "no token" above is open; every other one needs
// "Authorization: Bearer <token>" or a browser session's cookie.
//
// The web app (Options::web_files: embedded in grove-peer, or a folder with --api.web_dir):
// "/app/" is index.html, "/app/NAME" the file NAME (flat lower-case names; anything else 404).
// Every answer carries a strict Content-Security-Policy (only this origin; no inline script or
// style; never framed), X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer; files
// an ETag (If-None-Match -> 304) and Cache-Control: no-cache; a file with a gzip form goes
// gzip-encoded to clients that accept it (Vary: Accept-Encoding). HEAD as GET; other methods 405.
//
// Browser sessions (api/browser_sessions.h): signing in with the token or a one-time login-link
// code sets the cookie grove_session (HttpOnly; SameSite=Strict; Path=/) and answers a CSRF
// token. A request authorized by that cookie that is not GET or HEAD must carry
// "X-Grove-CSRF: <csrf>", or gets 403 csrf_required (the bearer token needs none). A request
// with an Authorization header is judged by it alone. Sessions live in memory, expire after 12 h
// idle, 64 at most; after 10 failed sign-ins within a minute sign-in answers 429 for a minute.
// Login links are http://HOST:PORT/app/#login=CODE (HOST 127.0.0.1 when listening on every
// interface), single use, valid 10 minutes. Signing out needs no CSRF token (it can only end a
// session).
//
// The event stream: each event's SSE id is "<boot>-<seq>", boot being 16 hex digits drawn at
// random when the HttpApi starts (Options::random) and seq the Backend's event seq. A stream
// opens with a bare "id: <boot>-<seq>" (its position, so a client that loses it before any event
// resumes without loss). Last-Event-ID of this boot resumes after that event; one of another boot
// (the peer restarted), one past the newest event, or one older than the Backend still keeps
// gets an event of kind "reset" first (its id the stream's position): events were missed and
// the client must reload what it shows. The same reset comes mid-stream when a client falls so
// far behind that events it had not read were dropped. Any other shape is 400.
//
// Errors are {"error": {"code", "message", "field"?, "rule"?}} with the status from backend.h's
// mapping plus 401 unauthorized, 403 csrf_required, 429 too_many_requests (sign-in locked),
// 404/405 for unknown routes and methods, 413 for bodies over
// 1 MiB (attachments: over the backend's MaxAttachmentBytes); "rule" names the tool rule that
// refused a transition or grant. A request is checked in full before the Backend is asked to change
// anything (requests with field values first read the workspace's tools, and for PATCH and
// transitions the record's type, to read values by field kind), so a refused request changes
// nothing. No exception leaves a request: each one is answered, or its connection closed, on its
// own.
//
// Thread-safety: Start, port and Stop may be called from any thread; the clock, random source and
// web files given in Options must outlive the HttpApi and be safe to use from the worker threads
// (the sessions use the clock and random source under their own lock). Requests are served on up to
// `threads` worker threads (plus one per open event stream), all calling the Backend
// concurrently. Stop (and the destructor) returns only once no worker touches the Backend.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/backend.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "webapp/web_files.h"

namespace grove::api {

class HttpApi {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;  // 0: any free port (see port())
    std::string token;  // the bearer token; must not be empty
    int threads = 4;    // workers for ordinary requests
    // Prometheus text exposition for GET /metrics; empty body when not set. Called on worker
    // threads, possibly several at once.
    std::function<std::string()> metrics;
    // Event streams open at once; more are refused with 503 so they cannot starve requests.
    int max_streams = 16;
    // A ": keep-alive" comment after this long without an event, so proxies and clients see a
    // live stream and a vanished client is noticed by the failing write.
    int keepalive_ms = 15000;
    // The web app's files, served under /app/ without a token; nullptr: none (404).
    std::shared_ptr<const webapp::WebFiles> web_files;
    // Time and randomness for browser sessions (randomness also for the event ids' boot);
    // nullptr: the system's (tests pass fakes).
    Clock* clock = nullptr;
    Random* random = nullptr;
  };

  // Listens on host:port and serves until Stop. InvalidArgument for bad options; IOError when
  // the address cannot be bound. `backend` must outlive the HttpApi.
  static Result<std::unique_ptr<HttpApi>> Start(Backend& backend, Options options);

  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // The port actually listened on.
  uint16_t port() const;

  // Stops accepting, closes open connections (event streams included) and waits for the workers
  // to leave the Backend: at most about one WaitEvents timeout (1 s). Idempotent.
  void Stop();

  // "GET /api/v1/workspaces/{ws}", one per route served, in table order: for the OpenAPI check.
  static std::vector<std::string> Routes();

  class Impl;

 private:
  explicit HttpApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::api
