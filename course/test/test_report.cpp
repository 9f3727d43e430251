// test_report.cpp — what judging a grader's report promises, with the reports a grader
// holding the student's code could write: the verdict comes from the list (names, points),
// never from the report; a report that disagrees with the list is "grader output invalid"
// and scores nothing; a crash or a time-out keeps what was reported before it and says
// where it happened; nothing throws; results.json and junit.xml are valid UTF-8, bounded,
// and parse (checked with Python's json and xml.etree when python3 is there); the hint of
// the check that failed goes wherever the student reads why.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "course_list.hpp"
#include "report.hpp"
#include "state.hpp"
#include "text.hpp"

namespace {

namespace fs = std::filesystem;
using course::Graded;
using course::Outcome;

const course::ListedExercise& gather() {
  static const course::CourseList list = course::parse_course_list(
      "exercise 03 gather fetch everything at once\n"
      "part 03.1 1 visible fetch_both: both at once\n"
      "part 03.2 2 after_due_date fetch_all: results in argument order\n"
      "part 03.3 1 hidden fetch_all_or: one failure does not sink the rest\n");
  REQUIRE(list.ok());
  return list.exercises.front();
}

std::string part_line(int k, const std::string& status, const std::string& name, const std::string& message = "",
                      const std::string& output = "") {
  return "part\t" + std::to_string(k) + "\t" + status + "\t0.012\t" + course::escape_field(name) + "\twhat it checks\t" +
         course::escape_field(message) + "\t" + course::escape_field(output) + "\n";
}

const std::string kHeader = "exercise\t3\tgather\tfetch everything at once\n";

std::string full_report(const std::string& s1 = "passed", const std::string& s2 = "failed",
                        const std::string& s3 = "passed") {
  return kHeader + part_line(1, s1, "fetch_both: both at once") +
         part_line(2, s2, "fetch_all: results in argument order", "got [2, 1], expected [1, 2]") +
         part_line(3, s3, "fetch_all_or: one failure does not sink the rest") + "end\tfailing\n";
}

Outcome exited(std::string report, int code = 1) {
  Outcome o;
  o.how = Outcome::How::exited;
  o.code = code;
  o.seconds = 1.5;
  o.report = std::move(report);
  return o;
}

// Whether a consumer that did not write the files reads them: Python's json and xml.etree.
// Skipped (true) where there is no python3.
bool python_accepts(const fs::path& json, const fs::path& xml) {
  if (std::system("python3 -c '' >/dev/null 2>&1") != 0) return true;
  const std::string cmd = "python3 -c 'import json,sys,xml.etree.ElementTree as E;json.load(open(sys.argv[1],encoding=\"utf-8\"));"
                          "E.parse(sys.argv[2])' '" + json.string() + "' '" + xml.string() + "'";
  return std::system(cmd.c_str()) == 0;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("coop_report_test." + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// python: also have Python read them (a second or two on a busy machine: only where it matters).
void check_files(const std::vector<Graded>& all, const std::optional<course::Integrity>& integrity = {},
                 bool python = false) {
  const std::string json = course::results_json(all, integrity, 12.3);
  const std::string xml = course::junit_xml(all, integrity);
  CHECK(course::clean_text(json) == json);  // valid UTF-8, no control characters but \n \t
  CHECK(course::clean_text(xml) == xml);
  CHECK(json.size() < 1024 * 1024);
  CHECK(xml.size() < 1024 * 1024);
  TempDir dir;
  REQUIRE(course::write_atomically(dir.path / "results.json", json));
  REQUIRE(course::write_atomically(dir.path / "junit.xml", xml));
  if (python) CHECK(python_accepts(dir.path / "results.json", dir.path / "junit.xml"));
}

}  // namespace

TEST_CASE("a complete report: statuses from the report, names and points from the list") {
  const Graded g = course::judge(gather(), exited(full_report()));
  CHECK(g.state == "failing");
  REQUIRE(g.parts.size() == 3);
  CHECK(g.parts[1].status == "failed");
  CHECK(g.parts[1].message == "got [2, 1], expected [1, 2]");
  CHECK(g.parts[1].points == 2);
  CHECK(g.score() == 2);  // parts 1 and 3, a point each
  CHECK(g.max_score() == 4);
  CHECK(course::judge(gather(), exited(full_report("passed", "passed", "passed"), 0)).state == "done");
  CHECK(course::judge(gather(), exited(full_report("not started", "not started", "not started"), 0)).state ==
        "not started");
  check_files({g});
}

TEST_CASE("reports that disagree with the list are 'grader output invalid', never a score") {
  const auto invalid = [](const std::string& report) {
    const Graded g = course::judge(gather(), exited(report, 0));
    CHECK(g.score() == 0);
    CHECK(!g.problem.empty());
    return g.state == "grader output invalid";
  };
  const std::string p1 = part_line(1, "passed", "fetch_both: both at once");
  const std::string p2 = part_line(2, "passed", "fetch_all: results in argument order");
  const std::string p3 = part_line(3, "passed", "fetch_all_or: one failure does not sink the rest");
  CHECK(invalid(kHeader + p1 + p2 + "end\tdone\n"));                                        // a part too few
  CHECK(invalid(kHeader + p1 + p2 + p3 + part_line(4, "passed", "bonus") + "end\tdone\n"));  // a part too many
  CHECK(invalid(kHeader + p1 + p1 + p2 + p3 + "end\tdone\n"));                              // a part twice
  CHECK(invalid(kHeader + p2 + p1 + p3 + "end\tdone\n"));                                   // out of order
  CHECK(invalid(kHeader + p1 + part_line(2, "passed", "another name") + p3 + "end\tdone\n"));
  CHECK(invalid("exercise\t4\tcreate_task\ta heartbeat\n" + p1 + p2 + p3 + "end\tdone\n"));  // exercise 04's
  CHECK(invalid(kHeader + p1 + p2 + p3 + "score\t100\nend\tdone\n"));                      // a forged score line
  CHECK(invalid(kHeader + p1 + p2 + p3 + "end\tdone\nscore\t40\n"));                       // after the end
  CHECK(invalid(kHeader + p1 + p2 + p3 + "end\tperfect\n"));
  CHECK(invalid(kHeader + "part\tNaN\tpassed\tNaN\tx\ty\tz\tw\n" + p2 + p3 + "end\tdone\n"));
  CHECK(invalid(kHeader + "part\t1\tpassed\tnan\tfetch_both: both at once\tw\tm\to\n" + p2 + p3 + "end\tdone\n"));
  CHECK(invalid(kHeader + "part\t1\tpassed\t1e999\tfetch_both: both at once\tw\tm\to\n" + p2 + p3 + "end\tdone\n"));
  CHECK(invalid(kHeader + "part\t99999999999999999999\tpassed\t1\tx\tw\tm\to\n" + p2 + p3 + "end\tdone\n"));
  CHECK(invalid(kHeader + "part\t1\tpassed\n" + p2 + p3 + "end\tdone\n"));  // missing fields
  CHECK(invalid(kHeader + "part\t1\tawesome\t1\tfetch_both: both at once\tw\tm\to\n" + p2 + p3 + "end\tdone\n"));
  CHECK(invalid(p1 + kHeader + p2 + p3 + "end\tdone\n"));  // a part before the header
  CHECK(invalid("\xff\xfe\n"));
}

TEST_CASE("an invalid report stays invalid when the grader then crashes or times out") {
  Outcome o = exited(kHeader + part_line(1, "passed", "not the list's name"));
  o.how = Outcome::How::signalled;
  o.code = 9;
  CHECK(course::judge(gather(), o).state == "grader output invalid");
}

TEST_CASE("a time-out keeps the parts before it and says where it happened") {
  Outcome o = exited(kHeader + part_line(1, "passed", "fetch_both: both at once"));
  o.how = Outcome::How::timed_out;
  o.seconds = 30.2;
  const Graded g = course::judge(gather(), o);
  CHECK(g.state == "timed out");
  CHECK(g.problem == "timed out after 30 s in part 2");
  CHECK(g.parts[0].status == "passed");
  CHECK(g.parts[1].status == "timed out");
  CHECK(g.parts[2].status == "not run");
  CHECK(g.score() == 1);
  check_files({g});

  Outcome before;
  before.how = Outcome::How::timed_out;
  before.before_report = true;
  before.seconds = 10.0;
  const Graded b = course::judge(gather(), before);
  CHECK(b.problem == "timed out after 10 s (before its first part)");
  CHECK(b.score() == 0);
}

TEST_CASE("a crash, a stop, an exit without the end: what happened, and where") {
  Outcome o = exited(kHeader + part_line(1, "passed", "fetch_both: both at once") + "part\t2\tpas");  // cut mid-line
  o.how = Outcome::How::signalled;
  o.code = 11;
  Graded g = course::judge(gather(), o);
  CHECK(g.state == "crashed");
  CHECK(g.problem.rfind("crashed: signal 11", 0) == 0);
  CHECK(g.problem.find("in part 2") != std::string::npos);
  CHECK(g.score() == 1);

  o.how = Outcome::How::stopped;
  o.code = 19;
  CHECK(course::judge(gather(), o).problem.rfind("stopped by signal 19", 0) == 0);

  // A student's _exit(0) after writing "passed" for one part: not a finished report.
  g = course::judge(gather(), exited(kHeader + part_line(1, "passed", "fetch_both: both at once"), 0));
  CHECK(g.state == "crashed");
  CHECK(g.problem == "exited (status 0) before its report was complete in part 2");

  g = course::judge(gather(), exited("", 0));
  CHECK(g.problem == "exited (status 0) before its report was complete (before its first part)");
  CHECK(g.score() == 0);

  // A complete report from a process that then exited oddly: its parts count, it crashed.
  g = course::judge(gather(), exited(full_report(), 3));
  CHECK(g.state == "crashed");
  CHECK(g.score() == 2);
}

TEST_CASE("hostile output: 2,000 '€' cut on a character boundary; huge fields; 2 M parts") {
  std::string euros;
  for (int i = 0; i < 2000; ++i) euros += "€";
  std::string bad = "é";
  bad = std::string(4095, 'x') + bad + "\xc3";  // a character across the cut, and a stray byte
  const std::string report = kHeader + part_line(1, "failed", "fetch_both: both at once", euros, euros + "\x01\x7f") +
                             part_line(2, "crash", "fetch_all: results in argument order", bad, bad) +
                             part_line(3, "hang", "fetch_all_or: one failure does not sink the rest",
                                       std::string(3 << 20, '\\'), std::string(3 << 20, '"')) +
                             "end\tfailing\n";
  const Graded g = course::judge(gather(), exited(report));
  REQUIRE(g.state == "failing");
  for (const auto& p : g.parts) {
    CHECK(p.message.size() <= course::kMessageCap + 64);
    CHECK(p.output.size() <= course::kOutputCap + 64);
    CHECK(course::clean_text(p.message) == p.message);
    CHECK(course::clean_text(p.output) == p.output);
  }
  check_files({g}, {}, true);

  // Two million parts: rejected in linear time, nothing kept beyond the cap.
  std::string flood = kHeader;
  for (int i = 0; i < 2'000'000; ++i) flood += "part\t1\tpassed\t0\tx\t\t\t\n";
  const course::RawReport raw = course::parse_report(flood);
  CHECK(raw.parts.size() <= course::kMaxParts);
  CHECK(!raw.error.empty());
  CHECK(course::judge(gather(), exited(flood, 0)).state == "grader output invalid");
}

TEST_CASE("nine exercises whatever they print: results.json and junit.xml under 1 MB, parsable") {
  std::vector<Graded> all;
  std::string noise;
  for (int i = 0; i < 20000; ++i) noise += "\"<&>\\\t€";
  for (int n = 1; n <= 9; ++n) {
    Graded g = course::judge(gather(), exited(kHeader + part_line(1, "failed", "fetch_both: both at once", noise, noise) +
                                              part_line(2, "crash", "fetch_all: results in argument order", noise, noise) +
                                              part_line(3, "not started", "fetch_all_or: one failure does not sink the rest") +
                                              "end\tfailing\n"));
    g.number = n;
    all.push_back(g);
  }
  all.push_back(course::without_grader(gather(), "does not compile", "exercises/03_gather.cpp does not compile"));
  course::Integrity integrity;
  integrity.hits = {"exercises/03_gather.cpp:12: fork", "exercises/03_gather.cpp:40: extern \"C\" <write>"};
  check_files(all, integrity, true);
  const std::string xml = course::junit_xml(all, integrity);
  CHECK(xml.find("<skipped") != std::string::npos);   // not started
  CHECK(xml.find("<failure") != std::string::npos);   // a failed check
  CHECK(xml.find("<error") != std::string::npos);     // a crash, a build failure
  const std::string json = course::results_json(all, integrity, 1);
  CHECK(json.find("\"visibility\": \"hidden\"") != std::string::npos);
  CHECK(json.find("\"visibility\": \"after_due_date\"") != std::string::npos);
  CHECK(json.find("\"name\": \"integrity\"") != std::string::npos);
  CHECK(json.find("extern \\\"C\\\"") != std::string::npos);
}

TEST_CASE("the files are written whatever happens: with no exercise at all, atomically") {
  check_files({}, {}, true);
  TempDir dir;
  CHECK(course::write_atomically(dir.path / "a" / "results.json", "{}"));
  std::string error;
  CHECK(!course::write_atomically("/proc/no/such/dir/results.json", "{}", &error));
  CHECK(!error.empty());
}

TEST_CASE("the failed check's hint: from the report to the verdict, the stored verdict and the files") {
  const std::string hint = "Results must follow the order of `sources`:\tnot the order they finish in";
  const std::string p1 = part_line(1, "passed", "fetch_both: both at once");
  // A part line with its ninth field, the hint (escaped like every field).
  std::string p2 = part_line(2, "failed", "fetch_all: results in argument order", "got [2, 1], expected [1, 2]");
  p2.insert(p2.size() - 1, "\t" + course::escape_field(hint));
  // A passed part has no hint to show, whatever its line says.
  std::string p3 = part_line(3, "passed", "fetch_all_or: one failure does not sink the rest");
  p3.insert(p3.size() - 1, "\tnever shown");
  const Graded g = course::judge(gather(), exited(kHeader + p1 + p2 + p3 + "end\tfailing\n"));
  REQUIRE(g.state == "failing");
  CHECK(g.parts[0].hint.empty());  // eight fields: a report without hints still reads
  CHECK(g.parts[1].hint == hint);

  const std::string json = course::results_json({g}, {}, 1);
  const std::string xml = course::junit_xml({g}, {});
  CHECK(json.find("\\nhint: Results must follow the order of `sources`:\\tnot the order") != std::string::npos);
  CHECK(xml.find("&#10;hint: Results must follow the order of `sources`:&#9;not the order") != std::string::npos);
  CHECK(json.find("never shown") == std::string::npos);
  CHECK(xml.find("never shown") == std::string::npos);
  check_files({g});

  // Ten fields is not a part line.
  std::string p10 = p2;
  p10.insert(p10.size() - 1, "\tmore");
  CHECK(course::judge(gather(), exited(kHeader + p1 + p10 + p3 + "end\tfailing\n")).state ==
        "grader output invalid");

  // The stored verdict keeps the hint (./coop hint reads it from there); one stored before
  // hints were kept (eight fields a part) still loads, without them.
  TempDir dir;
  REQUIRE(course::store_graded(dir.path, g));
  const auto loaded = course::load_graded(dir.path, gather());
  REQUIRE(loaded.has_value());
  CHECK(loaded->parts[1].hint == hint);
  CHECK(loaded->parts[1].message == "got [2, 1], expected [1, 2]");
  std::ifstream in(course::graded_file(dir.path, 3));
  std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), old;
  for (std::size_t at = 0, nl; (nl = stored.find('\n', at)) != std::string::npos; at = nl + 1) {
    std::string line = stored.substr(at, nl - at);
    if (line.rfind("part\t", 0) == 0) line.erase(line.rfind('\t'));  // drop the hint field
    old += line + "\n";
  }
  REQUIRE(course::write_atomically(course::graded_file(dir.path, 3), old));
  const auto before_hints = course::load_graded(dir.path, gather());
  REQUIRE(before_hints.has_value());
  CHECK(before_hints->parts[1].hint.empty());
  CHECK(before_hints->parts[1].status == "failed");
}
