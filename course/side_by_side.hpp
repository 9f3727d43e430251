// side_by_side.hpp — two versions of a file in two columns, the lines they share on the
// same row (aligned by their longest common subsequence, like `diff -y`), so that the
// student's exercise and the reference solution can be read across.
//
//   yours: exercises/03_gather.cpp          │ the reference: solutions/03_gather.cpp
//    12  coop::Task<int> fetch_all(...) {   │  12  coop::Task<int> fetch_all(...) {
//    13    exercise::todo("fetch_all");     ≠  13    auto [a, b] = co_await coop::gather(
//                                           >  14      fetch(x), fetch(y));
//
// The gutter says how a row differs: │ the same line, ≠ changed, < only yours, > only the
// reference. Lines too long for their column wrap.
#pragma once

#include <string>
#include <vector>

namespace course {

struct Titled {
  std::string title;
  std::vector<std::string> lines;
};

void print_side_by_side(const Titled& left, const Titled& right, int width);
// One after the other, with line numbers: for a narrow terminal, or a file.
void print_one_after_other(const Titled& first, const Titled& second, int width);

std::vector<std::string> read_lines(const std::string& path);

}  // namespace course
