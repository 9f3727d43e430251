// layout.hpp — where the course is: the repository (exercises/, solutions/, lessons/), the
// build directory, and in it what the course command runs and keeps.
//
// The course command lives in build/course/course, so it finds its build directory by
// walking up from its own executable to the first CMakeCache.txt, and the repository from
// that cache (CMAKE_HOME_DIRECTORY): the same answer whatever directory the student is in.
// COOP_ROOT and COOP_BUILD override them (tests point them at a temporary copy).
//
// The exercises are the course's one list (course/exercises.list, course_list.hpp), not
// whatever files exercises/ holds; the lessons are lessons/NN_topic.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "course_list.hpp"

namespace course {

namespace fs = std::filesystem;

// Something the student asked that cannot be done: said in one line, then exit `status`
// (2 for a bad command line, 1 otherwise). main() prints it.
struct Problem : std::runtime_error {
  Problem(const std::string& what, int status = 1) : std::runtime_error(what), status(status) {}
  int status;
};

// An exercise or a lesson: exercises/03_gather.cpp is {3, "gather"}.
struct Exercise {
  int number = 0;
  std::string topic;

  std::string nn() const;    // "03"
  std::string name() const;  // "03_gather"
};

struct Layout {
  fs::path root;   // the repository
  fs::path build;  // the build directory
  CourseList list;                  // the one list: exercises, parts, points
  std::vector<Exercise> exercises;  // the list's, in order
  std::vector<Exercise> lessons;
  std::string say;  // how the student runs this command, for "type this next": ./coop

  // Exercise n, or a Problem (status 2) naming the exercises there are.
  const Exercise& exercise(int n) const;
  const Exercise& lesson(int n) const;
  bool has_exercise(int n) const;
  // Exercise e as the list has it (its parts, points, title).
  const ListedExercise& listed(const Exercise& e) const;

  fs::path student_file(const Exercise& e) const { return root / "exercises" / (e.name() + ".cpp"); }
  fs::path contract_file(const Exercise& e) const { return root / "exercises" / (e.name() + ".hpp"); }
  fs::path solution_file(const Exercise& e) const { return root / "solutions" / (e.name() + ".cpp"); }

  // What the build makes (the same paths the Makefile uses).
  fs::path bin_dir() const { return build / "tests"; }
  fs::path coop_grade() const { return bin_dir() / "coop_grade"; }
  fs::path grader(const Exercise& e) const { return bin_dir() / ("grade_exercise_" + e.nn()); }
  fs::path lesson_binary(const Exercise& l) const { return build / "lessons" / ("lesson" + l.nn()); }
  // The last reports and what is remembered (state.hpp): never in exercises/.
  fs::path state_dir() const { return build / "grade-state"; }

  // A path as the student would type it from the repository: exercises/03_gather.cpp.
  std::string shown(const fs::path& p) const;
};

// Finds the repository and the build directory (see the top of this file). `argv0` is how
// this program was started; COOP_LAUNCHER (set by ./coop) says how to tell the student.
// A list that does not read is a Problem naming its file and line.
Layout find_layout(const char* argv0);

// The exercises of a list, as the course command names them.
std::vector<Exercise> exercises_of(const CourseList& list);

}  // namespace course
