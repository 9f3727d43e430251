// side_by_side.cpp — aligning two files' lines, and laying them out in columns.
#include "side_by_side.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <string_view>

namespace course {

namespace {

// Columns a line takes: one per UTF-8 code point (the files are code: no wide characters).
std::size_t columns(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string expand_tabs(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '\t') out += c;
    else do out += ' '; while (columns(out) % 4 != 0);
  }
  return out;
}

// s cut into pieces of at most w columns (never splitting a code point).
std::vector<std::string> wrap(const std::string& s, std::size_t w) {
  std::vector<std::string> pieces(1);
  std::size_t used = 0;
  for (char c : s) {
    const bool starts_code_point = (c & 0xC0) != 0x80;
    if (starts_code_point && used == w) {
      pieces.emplace_back();
      used = 0;
    }
    pieces.back() += c;
    used += starts_code_point;
  }
  return pieces;
}

std::string pad(std::string s, std::size_t w) {
  const std::size_t c = columns(s);
  if (c < w) s.append(w - c, ' ');
  return s;
}

std::string trimmed(const std::string& s) { return s.substr(0, s.find_last_not_of(" \t\r") + 1); }

// One row of the two columns: a line of each (or -1), and how they differ.
struct Row {
  int left = -1, right = -1;
  const char* gutter = " │ ";  // the same line; " ≠ " changed; " < " only left; " > " only right
};

// The rows: the lines both have, in order, on the same row (a longest common subsequence),
// and between two of those, what differs, paired up as far as it goes.
std::vector<Row> align(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const std::size_t n = a.size(), m = b.size();
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = trimmed(a[i]) == trimmed(b[j]) ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);

  std::vector<Row> rows;
  std::vector<int> only_a, only_b;
  const auto pair_up = [&] {
    for (std::size_t k = 0; k < std::max(only_a.size(), only_b.size()); ++k) {
      Row r;
      r.left = k < only_a.size() ? only_a[k] : -1;
      r.right = k < only_b.size() ? only_b[k] : -1;
      r.gutter = r.left < 0 ? " > " : r.right < 0 ? " < " : " ≠ ";
      rows.push_back(r);
    }
    only_a.clear();
    only_b.clear();
  };
  std::size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (trimmed(a[i]) == trimmed(b[j])) {
      pair_up();
      rows.push_back({static_cast<int>(i++), static_cast<int>(j++)});
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      only_a.push_back(static_cast<int>(i++));
    } else {
      only_b.push_back(static_cast<int>(j++));
    }
  }
  while (i < n) only_a.push_back(static_cast<int>(i++));
  while (j < m) only_b.push_back(static_cast<int>(j++));
  pair_up();
  return rows;
}

std::string rule(std::size_t w) {
  std::string r;
  for (std::size_t i = 0; i < w; ++i) r += "─";
  return r;
}

}  // namespace

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) lines.push_back(expand_tabs(line));
  return lines;
}

void print_side_by_side(const Titled& left, const Titled& right, int width) {
  const std::size_t col = static_cast<std::size_t>(std::max(width - 3, 2) / 2);
  const std::size_t digits = fmt::format("{}", std::max(left.lines.size(), right.lines.size())).size();
  const std::size_t text = col > digits + 2 ? col - digits - 2 : 1;  // "  12  code": number, two spaces
  fmt::print("{} │ {}\n", pad(wrap(left.title, col)[0], col), wrap(right.title, col)[0]);
  fmt::print("{}─┼─{}\n", rule(col), rule(col));
  for (const Row& row : align(left.lines, right.lines)) {
    const auto cells = [&](const Titled& side, int line) {
      std::vector<std::string> out;
      if (line < 0) return out;
      const auto pieces = wrap(side.lines[static_cast<std::size_t>(line)], text);
      for (std::size_t k = 0; k < pieces.size(); ++k)
        out.push_back(fmt::format("{:>{}}  {}", k == 0 ? std::to_string(line + 1) : "", digits, pieces[k]));
      return out;
    };
    const auto l = cells(left, row.left), r = cells(right, row.right);
    for (std::size_t k = 0; k < std::max(l.size(), r.size()); ++k) {
      const std::string right_cell = k < r.size() ? r[k] : "";
      fmt::print("{}{}{}\n", pad(k < l.size() ? l[k] : "", col), row.gutter, trimmed(right_cell));
    }
  }
}

void print_one_after_other(const Titled& first, const Titled& second, int width) {
  for (const Titled* t : {&first, &second}) {
    const std::string head = "── " + t->title + " ";
    fmt::print("{}{}\n", head, rule(static_cast<std::size_t>(std::max(width - static_cast<int>(columns(head)), 3))));
    const std::size_t digits = fmt::format("{}", t->lines.size()).size();
    for (std::size_t i = 0; i < t->lines.size(); ++i) fmt::print("{:>{}}  {}\n", i + 1, digits, trimmed(t->lines[i]));
    if (t == &first) fmt::print("\n");
  }
}

}  // namespace course
