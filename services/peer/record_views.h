// How the peer answers the API's questions about tool workspaces, apart from the event loop
// plumbing of peer.cc: tool definitions as api::ToolInfo, record queries (filter, sort, page),
// and the values a request gives by text that a tool field's kind gives meaning to.
//
// Pure functions over values the caller owns; the Workspace overloads only read it. Called on
// the peer's event loop.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/backend.h"
#include "common/status.h"
#include "replica/replica.h"
#include "tools/tool.h"

namespace grove::peer {

api::ToolInfo ToolInfoOf(const tools::Tool& tool);

// The records of `all` (as Workspace::List gives them: ordered by id) that match `q`'s filters,
// sorted as it asks, one page of them; `total` gets how many matched.
std::vector<const replica::RecordView*> SelectRecords(const std::vector<replica::RecordView>& all,
                                                      const api::RecordQuery& q, uint64_t& total);

// The field `name` of a record type of the workspace's tools; nullptr for a free-form type or
// an unknown field.
const tools::Field* ToolField(const replica::Workspace& ws, std::string_view type,
                              std::string_view name);

// Turns record id text given to a tool type's reference fields into record ids (the API passes
// them as text: only the workspace can resolve the device prefix). InvalidArgument with where =
// prefix + "." + field for text that names no record. Other values are left as they are.
Status ResolveReferences(const replica::Workspace& ws, std::string_view type,
                         const std::string& prefix, std::map<std::string, replica::Value>& values);

// The availability of each transition, as the API shows it.
std::vector<api::TransitionAvailability> Availability(
    const std::vector<replica::TransitionCheck>& checks);

}  // namespace grove::peer
