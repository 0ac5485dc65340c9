#include "cli/demo_world.h"

#include <filesystem>

#include "cli/data_folder.h"

namespace grove::cli {

Result<std::unique_ptr<DemoDevice>> MakeDemoDevice(const std::string& parent, std::string name,
                                                   Random& random, Clock& clock) {
  const std::string dir = (std::filesystem::path(parent) / name).string();
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return AlreadyExists(dir + " already exists; the demo needs new folders (give another --dir)");
  }
  GROVE_ASSIGN_OR_RETURN(identity::Identity id, identity::Identity::Create(name, random, clock));
  GROVE_RETURN_IF_ERROR(id.Save(dir, random));
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, CreateDeviceStore(dir));
  return std::make_unique<DemoDevice>(
      DemoDevice{std::move(name), dir, std::move(id), std::move(store), nullptr});
}

SyncStats& SyncStats::operator+=(const SyncStats& other) {
  deltas += other.deltas;
  bytes += other.bytes;
  accepted += other.accepted;
  problems.insert(problems.end(), other.problems.begin(), other.problems.end());
  return *this;
}

Status SendMissing(DemoDevice& from, DemoDevice& to, SyncStats& stats) {
  const std::string route = from.name + " -> " + to.name + ": ";
  while (true) {
    GROVE_ASSIGN_OR_RETURN(std::vector<Bytes> batch, from.ws->DeltasFor(to.ws->Version()));
    if (batch.empty()) return Status::Ok();
    stats.deltas += batch.size();
    for (const Bytes& delta : batch) stats.bytes += delta.size();
    const replica::ApplyReport report = to.ws->Apply(batch);
    stats.accepted += report.accepted;
    for (const Status& s : report.rejected) stats.problems.push_back(route + s.ToString());
    if (report.invalid > 0) {
      stats.problems.push_back(route + std::to_string(report.invalid) + " invalid deltas");
    }
    if (!report.store.ok()) {
      stats.problems.push_back(route + report.store.ToString());
      return Status::Ok();
    }
    // Nothing new arrived: what is still missing is waiting for something `from` cannot give.
    if (report.accepted == 0) return Status::Ok();
  }
}

Status SyncRound(std::span<DemoDevice* const> devices, SyncStats& stats) {
  for (size_t i = 0; i < devices.size(); ++i) {
    for (size_t j = i + 1; j < devices.size(); ++j) {
      GROVE_RETURN_IF_ERROR(SendMissing(*devices[i], *devices[j], stats));
      GROVE_RETURN_IF_ERROR(SendMissing(*devices[j], *devices[i], stats));
    }
  }
  return Status::Ok();
}

}  // namespace grove::cli
