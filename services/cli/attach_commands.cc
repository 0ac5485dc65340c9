// `grove attach put|get`: attachments through the peer's API (api/http_api.h). Files stream
// both ways; neither command holds a whole file in memory.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

#include "cli/api_client.h"
#include "cli/command.h"

namespace grove::cli {
namespace {

using api::Json;

// The attachments path of the workspace WS names, and a client; nullopt after printing why.
std::optional<std::pair<ApiClient, std::string>> Open(const Args& args, int& exit) {
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return std::nullopt;
  Result<std::string> ws = api->ResolveWorkspace(args.positional()[0]);
  if (!ws.ok()) {
    exit = api->Fail(ws.status());
    return std::nullopt;
  }
  std::string path = "/api/v1/workspaces/" + *ws + "/attachments";
  return std::make_pair(std::move(*api), std::move(path));
}

std::string Query(std::string_view key, const std::string& value) {
  return std::string(key) + "=" + PathSegment(value);
}

int RunPut(const Args& args) {
  const std::string& file = args.positional()[1];
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return ReportError(NotFound("cannot read " + file + ": " + ec.message()));
  std::ifstream in(file, std::ios::binary);
  if (!in) return ReportError(IOError("cannot open " + file));
  int exit = kExitOk;
  auto target = Open(args, exit);
  if (!target) return exit;
  const std::string* name = args.Get("name");
  std::string path = target->second + "?" +
                     Query("name", name ? *name : std::filesystem::path(file).filename().string());
  if (const std::string* type = args.Get("type")) path += "&" + Query("type", *type);
  Result<Json> stored = target->first.Upload(path, in, size);
  if (!stored.ok()) return target->first.Fail(stored.status());
  if (args.Has("json")) {
    PrintJson(*stored);
  } else {
    std::cout << JsonText(*stored, "id") << "\n";
  }
  return kExitOk;
}

int RunGet(const Args& args) {
  int exit = kExitOk;
  auto target = Open(args, exit);
  if (!target) return exit;
  const std::string path = target->second + "/" + PathSegment(args.positional()[1]);
  const std::string* out_path = args.Get("out");
  if (out_path == nullptr || *out_path == "-") {
    Status s = target->first.Download(path, std::cout);
    return s.ok() ? kExitOk : target->first.Fail(s);
  }
  // Into a temporary file first: a failed download must not leave a truncated file under the
  // name asked for.
  const std::string partial = *out_path + ".part";
  Status s;
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) return ReportError(IOError("cannot write " + partial));
    s = target->first.Download(path, out);
  }
  std::error_code ec;
  if (!s.ok()) {
    std::filesystem::remove(partial, ec);
    return target->first.Fail(s);
  }
  std::filesystem::rename(partial, *out_path, ec);
  if (ec) return ReportError(IOError("cannot write " + *out_path + ": " + ec.message()));
  return kExitOk;
}

}  // namespace

std::vector<Command> AttachCommands() {
  std::vector<Option> put_options = {kApiDataOption, kApiAddressOption, kApiJsonOption};
  put_options.insert(put_options.begin() + 1,
                     {{"name", "NAME", false, "the file name to record (default: FILE's name)"},
                      {"type", "MEDIA/TYPE", false, "the media type, like application/pdf"}});
  std::vector<Option> get_options = {kApiDataOption, kApiAddressOption};
  get_options.insert(get_options.begin() + 1,
                     {"out", "FILE", false, "write the file here (default: standard output)"});
  return {
      {.name = "attach put",
       .summary = "Store FILE as an attachment of workspace WS; prints its id, the value for an "
                  "attachment field.",
       .options = put_options,
       .positionals = {"WS", "FILE"},
       .run = RunPut},
      {.name = "attach get",
       .summary = "Write attachment ID of workspace WS, fetching it from connected members "
                  "when it is not held here.",
       .options = get_options,
       .positionals = {"WS", "ID"},
       .run = RunGet},
  };
}

}  // namespace grove::cli
