// Shared by the tools tests: a valid tool file to start from and to break in one place, and
// helpers to locate text in it and to find diagnostics.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tools/tool.h"

namespace grove::tools::testing {

// Every kind of field, option, transition part and effect, and no mistakes.
inline constexpr std::string_view kShop = R"yaml(tool: shop
version: 1
title: Shop
types:
  item:
    fields:
      sku: {type: text, required: true, max: 32}
      on_hand: {type: stock, keyed: true}
      sold: {type: counter}
      photo: {type: attachment, max_bytes: 1000000}
  order:
    title: Order
    fields:
      number: {type: text, required: true}
      item: {type: reference, to: item}
      location: {type: text}
      priority: {type: enum, values: [low, normal, high], default: normal}
      price: {type: money, currency: EUR, default: {minor: 1250, currency: EUR}}
      due: {type: date, default: "2024-02-29"}
      quantity: {type: integer, min: 1, max: 1000, default: 1}
      placed_at: {type: time}
      urgent: {type: flag, default: false}
      tags: {type: list, of: enum, values: [a, b]}
      total: {type: money, computed: "sum(children('line', 'order'), 'amount')"}
      approved_by: {type: member, readonly: true}
      reason: {type: text, readonly: true, guard: "len(value) < 200", message: too long}
      notes: {type: text, editable_in: [draft, submitted]}
    states: [draft, submitted, approved, cancelled]
    initial: draft
    edit_guard: "record.state == 'draft'"
    transitions:
      submit:
        from: [draft]
        to: submitted
        guard: "count(children('line', 'order')) > 0"
        message: "an order needs at least one line"
      approve:
        from: [submitted]
        to: approved
        roles: [owner]
        guard: "not (actor in record.editors) and record.item.sku != ''"
        sets: {approved_by: actor}
        effects:
          - for_each: "children('line', 'order')"
            as: line
            do:
              - add: {record: "line.item", field: on_hand, key: "record.location", amount: "line.quantity"}
              - add: {record: "line.item", field: sold, amount: "line.quantity"}
          - create: {type: line, fields: {order: "record", quantity: "1"}}
          - set: {field: location, value: "'main'"}
          - transition: {record: "record", name: submit}
      cancel:
        from: ["*"]
        to: cancelled
        inputs: {reason: {required: true}}
        guard: "is_set(input.reason)"
  line:
    fields:
      order: {type: reference, to: order, required: true}
      item: {type: reference, to: item}
      quantity: {type: integer, required: true}
      amount: {type: money}
)yaml";

// `text` with the first `from` replaced by `to`. REQUIRES: `from` occurs.
inline std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << from << "' not in the text";
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

// 1-based line and column of the first occurrence of `needle` (after `after`, if given).
inline std::pair<int, int> Pos(std::string_view text, std::string_view needle,
                               std::string_view after = {}) {
  size_t start = after.empty() ? 0 : text.find(after);
  EXPECT_NE(start, std::string::npos) << "test bug: '" << after << "' not in the text";
  const size_t at = text.find(needle, start);
  EXPECT_NE(at, std::string::npos) << "test bug: '" << needle << "' not in the text";
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(at - line_start) + 1};
}

inline std::string AllText(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) out += d.Text() + "\n";
  return out;
}

// Parses `yaml` as "t.yaml" and expects a diagnostic at `at` whose message contains
// `message`. With `only`, it must be the one diagnostic.
inline void ExpectDiagnostic(std::string_view yaml, std::pair<int, int> at,
                             std::string_view message, bool only = true) {
  const ParseResult r = ParseTool(yaml, "t.yaml");
  EXPECT_FALSE(r.tool.has_value());
  bool found = false;
  for (const Diagnostic& d : r.diagnostics) {
    found |= d.at.file == "t.yaml" && d.at.line == at.first && d.at.column == at.second &&
             d.message.find(message) != std::string::npos;
  }
  EXPECT_TRUE(found) << "want t.yaml:" << at.first << ":" << at.second << ": ..." << message
                     << "...\ngot:\n"
                     << AllText(r.diagnostics);
  if (only) {
    EXPECT_EQ(r.diagnostics.size(), 1u) << AllText(r.diagnostics);
  }
}

inline Tool MustParse(std::string_view yaml, std::string file = "t.yaml") {
  ParseResult r = ParseTool(yaml, std::move(file));
  EXPECT_TRUE(r.tool.has_value()) << AllText(r.diagnostics);
  return r.tool ? std::move(*r.tool) : Tool{};
}

}  // namespace grove::tools::testing
