// course_list.cpp — reading the one list (course_list.hpp says its format and who reads it).
//
// The parser is written by hand, without stoi or streams, so that nothing in it can throw:
// a bad line is one error naming its file and line, and the rest of the list still reads.
#include "course_list.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>

namespace course {

std::string_view visibility_name(Visibility v) {
  switch (v) {
    case Visibility::visible: return "visible";
    case Visibility::after_due_date: return "after_due_date";
    case Visibility::after_published: return "after_published";
    case Visibility::hidden: return "hidden";
  }
  return "hidden";  // unreachable; the safe answer if it ever were
}

std::string ListedExercise::nn() const { return fmt::format("{:02}", number); }
std::string ListedExercise::name() const { return nn() + "_" + topic; }

double ListedExercise::max_points() const {
  double sum = 0;
  for (const ListedPart& p : parts) sum += p.points;
  return sum;
}

const ListedPart* ListedExercise::part(int k) const {
  for (const ListedPart& p : parts)
    if (p.number == k) return &p;
  return nullptr;
}

const ListedExercise* CourseList::find(int n) const {
  for (const ListedExercise& e : exercises)
    if (e.number == n) return &e;
  return nullptr;
}

std::string CourseList::range() const {
  if (exercises.empty()) return "none";
  bool consecutive = true;
  for (std::size_t i = 1; i < exercises.size(); ++i)
    consecutive = consecutive && exercises[i].number == exercises[i - 1].number + 1;
  if (exercises.size() == 1) return std::to_string(exercises[0].number);
  if (consecutive) return fmt::format("{} to {}", exercises.front().number, exercises.back().number);
  std::string out;
  for (std::size_t i = 0; i < exercises.size(); ++i) {
    if (i > 0) out += i + 1 == exercises.size() ? " and " : ", ";
    out += std::to_string(exercises[i].number);
  }
  return out;
}

bool parse_decimal(std::string_view s, double& out) {
  const std::size_t point = s.find('.');
  const std::string_view whole = s.substr(0, point);
  const std::string_view frac = point == std::string_view::npos ? std::string_view() : s.substr(point + 1);
  const auto digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (whole.empty() || whole.size() > 9 || !digits(whole)) return false;
  if (point != std::string_view::npos && (frac.empty() || frac.size() > 9 || !digits(frac))) return false;
  double v = 0;
  for (char c : whole) v = v * 10 + (c - '0');
  double scale = 0.1;
  for (char c : frac) {
    v += (c - '0') * scale;
    scale /= 10;
  }
  out = v;
  return true;
}

bool parse_count(std::string_view s, int& out) {
  if (s.empty() || s.size() > 6) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits off the first blank-separated word of `rest` (which loses it and the blanks after).
std::string_view word(std::string_view& rest) {
  std::size_t i = 0;
  while (i < rest.size() && !is_blank(rest[i])) ++i;
  const std::string_view w = rest.substr(0, i);
  while (i < rest.size() && is_blank(rest[i])) ++i;
  rest.remove_prefix(i);
  return w;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool is_topic(std::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// "03" -> 3: exactly two digits, as the files are named (01 … 99).
bool two_digits(std::string_view s, int& n) { return s.size() == 2 && parse_count(s, n) && n >= 1; }

}  // namespace

CourseList parse_course_list(std::string_view text, std::string_view file) {
  CourseList list;
  std::size_t line_no = 0;
  std::vector<std::pair<int, std::size_t>> declared;  // each exercise's line, for "has no parts"
  const auto error = [&](const std::string& what) {
    // A list of nonsense should not make a list of a million errors.
    if (list.errors.size() < 50) list.errors.push_back(fmt::format("{}:{}: {}", file, line_no, what));
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view rest = trimmed(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (rest.empty() || rest.front() == '#') continue;
    const std::string_view kind = word(rest);
    if (kind == "exercise") {
      ListedExercise e;
      const std::string_view number = word(rest), topic = word(rest);
      if (!two_digits(number, e.number)) {
        error(fmt::format("'{}' is not an exercise number (two digits: 03)", number));
        continue;
      }
      if (!is_topic(topic)) {
        error(fmt::format("exercise {}: the topic must be lower case letters, digits and _ (as in 03_gather.cpp)",
                          number));
        continue;
      }
      if (list.find(e.number) != nullptr) {
        error(fmt::format("exercise {} is listed twice", number));
        continue;
      }
      e.topic = topic;
      e.title = rest;
      declared.emplace_back(e.number, line_no);
      list.exercises.push_back(std::move(e));
    } else if (kind == "part") {
      const std::string_view id = word(rest), points = word(rest), visibility = word(rest);
      const std::size_t dot = id.find('.');
      int n = 0, k = 0;
      if (dot == std::string_view::npos || !two_digits(id.substr(0, dot), n) || !parse_count(id.substr(dot + 1), k)) {
        error(fmt::format("'{}' is not a part number (exercise.part: 03.1)", id));
        continue;
      }
      ListedPart p;
      p.number = k;
      if (!parse_decimal(points, p.points)) {
        error(fmt::format("part {}: '{}' is not a number of points (a non-negative number: 1, 0.5)", id, points));
        continue;
      }
      if (visibility == "visible") p.visibility = Visibility::visible;
      else if (visibility == "after_due_date") p.visibility = Visibility::after_due_date;
      else if (visibility == "after_published") p.visibility = Visibility::after_published;
      else if (visibility == "hidden") p.visibility = Visibility::hidden;
      else {
        error(fmt::format("part {}: '{}' is not a visibility (visible, after_due_date, after_published, hidden)", id,
                          visibility));
        continue;
      }
      if (rest.empty()) {
        error(fmt::format("part {} has no name", id));
        continue;
      }
      p.name = rest;
      auto* e = list.exercises.empty() ? nullptr : &list.exercises.back();
      if (e == nullptr || e->number != n) {
        error(fmt::format("part {} does not follow the line of exercise {:02}", id, n));
        continue;
      }
      const int expected = static_cast<int>(e->parts.size()) + 1;
      if (k != expected) {
        error(fmt::format("part {}: parts are numbered 1, 2, … in order; expected {}.{} here", id, e->nn(), expected));
        continue;
      }
      e->parts.push_back(std::move(p));
    } else {
      error(fmt::format("'{}' is neither 'exercise' nor 'part'", kind));
    }
  }
  for (const auto& [n, line] : declared)
    if (const ListedExercise* e = list.find(n); e != nullptr && e->parts.empty()) {
      line_no = line;
      error(fmt::format("exercise {} has no parts", e->nn()));
    }
  std::sort(list.exercises.begin(), list.exercises.end(),
            [](const ListedExercise& a, const ListedExercise& b) { return a.number < b.number; });
  return list;
}

CourseList read_course_list(const std::filesystem::path& file) {
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    CourseList list;
    list.errors.push_back(fmt::format("{}: cannot be read", file.string()));
    return list;
  }
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_course_list(text, file.string());
}

std::filesystem::path course_list_file(const std::filesystem::path& root) { return root / "course" / "exercises.list"; }

}  // namespace course
