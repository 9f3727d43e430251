// course_list.hpp — the course's one list of exercises and graded parts
// (course/exercises.list), and the only place that reads it.
//
// Everything that needs to know which exercises there are, which parts each has, what a
// part is worth and who may see its result reads this list: the build (which graders to
// make, tests/CMakeLists.txt), coop_grade (what a grader's report must match, the points),
// the course command (./coop) and autograding. A grader's own report is never trusted for
// any of it: a report that disagrees with the list is invalid. So a new exercise is its
// files plus one entry here, and an instructor sets points and visibility in one place.
//
// The format, one entry a line, fields separated by blanks, the last field the rest of the
// line; `#` starts a comment line:
//
//   exercise 03 gather fetch everything at once
//   part 03.1 1 visible fetch_both: both at once
//
// `exercise NN TOPIC TITLE`: exercises/NN_TOPIC.cpp, tests/grading/NN_TOPIC.cpp.
// `part NN.K POINTS VISIBILITY NAME`: part K of exercise NN (parts are numbered 1, 2, …
// in order, as the grader runs them), worth POINTS (a non-negative number), its result
// shown to students as Gradescope's VISIBILITY says (visible, after_due_date,
// after_published, hidden); NAME is the grader's name for it, exactly.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace course {

// Gradescope's visibility of a test's result.
enum class Visibility { visible, after_due_date, after_published, hidden };
std::string_view visibility_name(Visibility v);

struct ListedPart {
  int number = 0;  // 1, 2, … within its exercise
  std::string name;
  double points = 0;
  Visibility visibility = Visibility::visible;
};

struct ListedExercise {
  int number = 0;
  std::string topic;  // "gather"
  std::string title;  // "fetch everything at once"
  std::vector<ListedPart> parts;

  std::string nn() const;    // "03"
  std::string name() const;  // "03_gather"
  double max_points() const;
  const ListedPart* part(int k) const;  // nullptr when there is no part k
};

struct CourseList {
  std::vector<ListedExercise> exercises;  // in the order of their numbers
  // What is wrong with the list, one `file:line: what` each. Empty when it is well formed;
  // the entries that were well formed are kept either way.
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
  const ListedExercise* find(int n) const;  // nullptr when there is no exercise n
  // The exercises there are, for a message: "1 to 9", "1, 2 and 5", "none".
  std::string range() const;
};

// Reads the list from text; `file` names it in error messages. Never throws.
CourseList parse_course_list(std::string_view text, std::string_view file = "exercises.list");
// Reads the list from a file; a file that cannot be read is an error in the result.
CourseList read_course_list(const std::filesystem::path& file);
// Where the list is in a course repository.
std::filesystem::path course_list_file(const std::filesystem::path& root);

// A non-negative decimal number as the list and the reports write them ("1", "0.5",
// "12.345"): digits, optionally a point and more digits. No sign, exponent, NaN or
// infinity, at most 9 digits before the point. False (and `out` unchanged) otherwise.
bool parse_decimal(std::string_view s, double& out);
// A whole number 0 … 999999 written in digits only. False otherwise.
bool parse_count(std::string_view s, int& out);

}  // namespace course
