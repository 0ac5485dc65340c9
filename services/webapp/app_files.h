// webapp::AppFiles — the peer's web app (web/app/, built by scripts/build-web.sh), embedded into
// grove-peer at build time so a peer needs no other files and works with no network. The API
// serves them under /app/ (api/http_api.h). Constant data; call from any thread.
#pragma once

#include <span>

#include "webapp/web_files.h"

namespace grove::webapp {

// Every embedded file of the app, by name; NAME.gz siblings are the files' gzip forms.
std::span<const WebFile> AppFiles();

}  // namespace grove::webapp
