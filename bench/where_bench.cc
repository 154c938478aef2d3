// WHERE evaluation cost: Filter::Matches on rows of PostgreSQL text against a hand-written check
// of the same condition on the same rows (parse the text, compare), in the same run, and the cost
// of Compile itself. Prints rows/s and the ratio Matches / hand-written.
//   where_bench [--rows N]
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "where/where.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Case {
  const char* where;
  // The same condition written by hand on the row's text.
  bool (*by_hand)(const std::vector<std::optional<std::string_view>>& row);
};

std::optional<long> Int(std::optional<std::string_view> text) {
  if (!text) return std::nullopt;
  long v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return v;
}

const Case kCases[] = {
    {"id = 42", [](const auto& row) { return Int(row[0]) == 42; }},
    {"id > 100 AND status = 'open'",
     [](const auto& row) {
       auto id = Int(row[0]);
       return id && *id > 100 && row[1] && *row[1] == "open";
     }},
    {"title ILIKE '%fix%'",
     [](const auto& row) {
       if (!row[2]) return false;
       std::string lower(*row[2]);
       for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
       return lower.find("fix") != std::string::npos;
     }},
    {"status IN ('open', 'review') OR id < 10",
     [](const auto& row) {
       if (row[1] && (*row[1] == "open" || *row[1] == "review")) return true;
       auto id = Int(row[0]);
       return id && *id < 10;
     }},
};

}  // namespace

int main(int argc, char** argv) {
  size_t rows = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--rows") == 0) rows = std::strtoul(argv[++i], nullptr, 10);
  }
  std::vector<eddy::where::ColumnType> columns = {
      {"id", "int4", "", false}, {"status", "text", "", false}, {"title", "text", "", false}};
  static const char* kStatuses[] = {"open", "closed", "review", "draft"};
  std::vector<std::string> texts;
  texts.reserve(rows * 3);
  for (size_t i = 0; i < rows; ++i) {
    texts.push_back(std::to_string(i % 1000));
    texts.push_back(kStatuses[i % 4]);
    texts.push_back(fmt::format("Issue {}: {} the thing", i, i % 7 == 0 ? "Fix" : "Improve"));
  }
  std::vector<std::vector<std::optional<std::string_view>>> table(rows);
  for (size_t i = 0; i < rows; ++i) {
    table[i] = {texts[3 * i], texts[3 * i + 1], texts[3 * i + 2]};
  }

  fmt::print("{:<42} {:>14} {:>14} {:>8}\n", "clause", "Matches rows/s", "by hand rows/s", "ratio");
  for (const Case& c : kCases) {
    auto filter = eddy::where::Compile(c.where, {}, columns);
    if (!filter.ok()) {
      fmt::print(stderr, "{}: {}\n", c.where, filter.status().message());
      return 1;
    }
    size_t matched = 0, expected = 0;
    auto start = Clock::now();
    for (const auto& row : table) matched += (*filter)->Matches(row) ? 1 : 0;
    double compiled = Seconds(Clock::now() - start);
    start = Clock::now();
    for (const auto& row : table) expected += c.by_hand(row) ? 1 : 0;
    double by_hand = Seconds(Clock::now() - start);
    if (matched != expected) {
      fmt::print(stderr, "{}: Matches accepted {} rows, the hand-written check {}\n", c.where,
                 matched, expected);
      return 1;
    }
    fmt::print("{:<42} {:>14.0f} {:>14.0f} {:>7.1f}x\n", c.where, rows / compiled, rows / by_hand,
               by_hand > 0 ? compiled / by_hand : 0.0);
  }
  const int kCompiles = 20000;
  auto start = Clock::now();
  for (int i = 0; i < kCompiles; ++i) {
    auto filter = eddy::where::Compile("id > 100 AND status = 'open'", {}, columns);
    if (!filter.ok()) return 1;
  }
  fmt::print("Compile (parse + bind + sql + index terms): {:.1f} us per clause\n",
             Seconds(Clock::now() - start) / kCompiles * 1e6);
  return 0;
}
