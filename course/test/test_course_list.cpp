// test_course_list.cpp — what the one list promises: the course's own list reads without
// an error and holds every exercise; a malformed line is one error naming file:line (never
// an exception), and the lines around it still read; numbers are digits only.
#include <doctest/doctest.h>

#include <string>

#include "course_list.hpp"

namespace {

using course::parse_course_list;

}  // namespace

TEST_CASE("the course's own list reads cleanly: nine exercises, each with parts, 1 to 9") {
  const auto list = course::read_course_list(course::course_list_file(COOP_SOURCE_DIR));
  for (const std::string& e : list.errors) MESSAGE(e);
  REQUIRE(list.ok());
  CHECK(list.exercises.size() >= 9);
  for (const auto& e : list.exercises) {
    CHECK(!e.parts.empty());
    CHECK(!e.title.empty());
    for (std::size_t i = 0; i < e.parts.size(); ++i) CHECK(e.parts[i].number == static_cast<int>(i) + 1);
  }
  REQUIRE(list.find(3) != nullptr);
  CHECK(list.find(3)->name() == "03_gather");
}

TEST_CASE("an entry: the last field is the rest of the line, points and visibility as written") {
  const auto list = parse_course_list(
      "# a comment\n\n"
      "exercise 03 gather fetch everything at once\n"
      "part 03.1 1 visible fetch_both: both at once\n"
      "part 03.2 0.5   hidden   fetch_all: results in argument order  \n"
      "exercise 10 streams a tenth exercise\n"
      "part 10.1 2 after_due_date one\n",
      "l");
  REQUIRE(list.ok());
  REQUIRE(list.exercises.size() == 2);
  const auto& e = list.exercises[0];
  CHECK(e.title == "fetch everything at once");
  CHECK(e.parts[0].name == "fetch_both: both at once");
  CHECK(e.parts[1].name == "fetch_all: results in argument order");
  CHECK(e.parts[1].points == doctest::Approx(0.5));
  CHECK(e.parts[1].visibility == course::Visibility::hidden);
  CHECK(e.max_points() == doctest::Approx(1.5));
  CHECK(list.range() == "3 and 10");
  CHECK(list.find(10)->parts[0].visibility == course::Visibility::after_due_date);
}

TEST_CASE("malformed lines are errors naming file:line; the others still read") {
  const auto list = parse_course_list(
      "exercise 03 gather fetch\n"              // 1
      "part 03.1 1 visible one\n"               // 2
      "part 03.2 NaN visible two\n"             // 3: not a number
      "part 03.2 -1 visible two\n"              // 4: negative
      "part 03.2 1e9 visible two\n"             // 5: exponent
      "part 03.2 99999999999 visible two\n"     // 6: too large
      "part 03.2 1 public two\n"                // 7: not a visibility
      "part 03.3 1 visible three\n"             // 8: out of order
      "part 03.2 1 visible\n"                   // 9: no name
      "part 04.1 1 visible elsewhere\n"         // 10: not after its exercise
      "score 03 100\n"                          // 11: unknown kind
      "exercise 3 gather again\n"               // 12: one digit
      "exercise 03 gather twice\n"              // 13: listed twice
      "exercise 05 Bad-Topic title\n"           // 14: topic
      "exercise 06 lonely no parts\n",          // 15: no parts
      "exercises.list");
  CHECK(list.errors.size() == 13);
  for (int line : {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}) {
    const std::string where = "exercises.list:" + std::to_string(line) + ":";
    bool found = false;
    for (const std::string& e : list.errors) found = found || e.rfind(where, 0) == 0;
    CHECK_MESSAGE(found, where);
  }
  REQUIRE(list.find(3) != nullptr);
  CHECK(list.find(3)->parts.size() == 1);
}

TEST_CASE("nonsense of any size is errors, never an exception, and a bounded number of them") {
  std::string junk;
  for (int i = 0; i < 100000; ++i) junk += "part \xff\xfe 1e999 \t NaN\n";
  const auto list = parse_course_list(junk);
  CHECK(!list.ok());
  CHECK(list.errors.size() <= 50);
  CHECK(course::read_course_list("/nonexistent/exercises.list").errors.size() == 1);
}

TEST_CASE("numbers: digits only, bounded") {
  double d = -1;
  CHECK(course::parse_decimal("12.5", d));
  CHECK(d == doctest::Approx(12.5));
  for (const char* bad : {"", "NaN", "nan", "inf", "-1", "+1", "1e3", "1.", ".5", "1.2.3", "1234567890", " 1", "0x10"})
    CHECK_MESSAGE(!course::parse_decimal(bad, d), bad);
  int n = -1;
  CHECK(course::parse_count("007", n));
  CHECK(n == 7);
  for (const char* bad : {"", "-1", "1234567", "3a", "٣"}) CHECK_MESSAGE(!course::parse_count(bad, n), bad);
}
