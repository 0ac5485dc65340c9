// Plain-text tables for terminal output: every cell padded to its column's widest, two spaces
// between columns, so a listing stays readable without a terminal library. Widths count bytes, so
// names with multi-byte UTF-8 characters may shift their row slightly; good enough for names that
// are mostly ASCII, and never wrong in content.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace grove::cli {

class Table {
 public:
  // align[i] == 'r' right-aligns column i (numbers); any other character, or none, left-aligns.
  explicit Table(std::string_view align = "") : align_(align) {}

  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // The rows, each prefixed with `indent` and ended with '\n'; the last cell is not padded.
  std::string Text(std::string_view indent = "") const;

 private:
  std::string align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace grove::cli
