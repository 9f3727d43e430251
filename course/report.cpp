// report.cpp — reading a grader's raw report, judging it against the list, and writing
// results.json and junit.xml (report.hpp says what each promises).
//
// Two rules carry most of the weight. The parser does its own number parsing
// (parse_decimal, parse_count: digits only, bounded), so no report can make it throw or
// produce NaN. And every piece of text a grader produced goes through cap_text before it is
// kept, so what is written later is valid UTF-8 of a bounded size.
#include "report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include "text.hpp"

namespace course {

// ---- fields --------------------------------------------------------------------------------

std::string escape_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string unescape_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

namespace {

// A field's raw text is cut before it is unescaped, so that a 100 MB field costs no more
// than a capped one (an escape is two bytes for one, hence twice the cap, plus a character).
constexpr std::size_t kRawFieldCap = 2 * std::max(kMessageCap, kOutputCap) + 8;

std::vector<std::string_view> raw_fields(std::string_view line) {
  std::vector<std::string_view> f;
  for (;;) {
    const std::size_t tab = line.find('\t');
    f.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return f;
    line.remove_prefix(tab + 1);
  }
}

std::string field(std::string_view raw, std::size_t cap) {
  const bool cut = raw.size() > kRawFieldCap;
  std::string s = unescape_field(raw.substr(0, kRawFieldCap));
  if (cut) s += "…";  // so cap_text sees that something was cut even if it all fits
  return cap_text(s, cap);
}

bool is_part_status(std::string_view s) {
  return s == "passed" || s == "failed" || s == "not started" || s == "hang" || s == "crash";
}

bool is_end_state(std::string_view s) { return s == "done" || s == "failing" || s == "not started"; }

// A name as a person should see it in an error: short, printable.
std::string shown(std::string_view s) { return cap_text(s, 80, "…"); }

}  // namespace

std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out;
  for (std::string_view f : raw_fields(line)) out.push_back(unescape_field(f));
  return out;
}

// ---- the raw report --------------------------------------------------------------------------

RawReport parse_report(std::string_view text) {
  RawReport r;
  std::size_t line_no = 0;
  const auto bad = [&](const std::string& what) { r.error = fmt::format("line {}: {}", line_no, what); };
  while (r.error.empty()) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) break;  // no line, or a last line cut off mid-write
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    ++line_no;
    const std::size_t tab = line.find('\t');
    const std::string_view kind = line.substr(0, std::min(tab, std::size_t{16}));
    const std::size_t count = static_cast<std::size_t>(std::count(line.begin(), line.end(), '\t')) + 1;
    if (r.end_state) {
      bad("a line after 'end'");
    } else if (kind == "exercise") {
      const auto f = raw_fields(line);
      if (line_no != 1) bad("'exercise' is not the first line");
      else if (f.size() != 4) bad(fmt::format("'exercise' needs 4 fields, not {}", f.size()));
      else if (!parse_count(f[1], r.exercise)) bad("the exercise's number is not a number");
      else {
        r.has_header = true;
        r.topic = field(f[2], 200);
        r.title = field(f[3], 500);
      }
    } else if (kind == "part") {
      if (!r.has_header) {
        bad("a part before the 'exercise' line");
        break;
      }
      if (count != 8 && count != 9) {
        bad(fmt::format("'part' needs 9 fields (8 without a hint), not {}", count));
        break;
      }
      if (r.parts.size() >= kMaxParts) {
        bad(fmt::format("more than {} parts", kMaxParts));
        break;
      }
      const auto f = raw_fields(line);
      RawPart p;
      if (!parse_count(f[1], p.number)) bad("the part's number is not a number");
      else if (!is_part_status(f[2])) bad(fmt::format("'{}' is not a part's status", shown(f[2])));
      else if (!parse_decimal(f[3], p.seconds)) bad(fmt::format("'{}' is not a number of seconds", shown(f[3])));
      if (!r.error.empty()) break;
      p.status = std::string(f[2]);
      p.name = field(f[4], 500);
      p.what = field(f[5], kMessageCap);
      p.message = field(f[6], kMessageCap);
      p.output = field(f[7], kOutputCap);
      if (f.size() == 9) p.hint = field(f[8], kMessageCap);
      r.parts.push_back(std::move(p));
    } else if (kind == "end") {
      if (!r.has_header) bad("'end' before the 'exercise' line");
      else if (count != 2) bad(fmt::format("'end' needs 2 fields, not {}", count));
      else if (const std::string_view state = line.substr(tab + 1); !is_end_state(state))
        bad(fmt::format("'{}' is not an exercise's state", shown(state)));
      else r.end_state = std::string(state);
    } else {
      bad(fmt::format("'{}' is not a kind of line (exercise, part, end)", shown(kind)));
    }
  }
  return r;
}

// ---- the verdict -----------------------------------------------------------------------------

std::string Graded::nn() const { return fmt::format("{:02}", number); }
std::string Graded::name() const { return nn() + "_" + topic; }
int Graded::passed() const {
  return static_cast<int>(std::count_if(parts.begin(), parts.end(), [](const GradedPart& p) { return p.passed(); }));
}
double Graded::score() const {
  double s = 0;
  for (const GradedPart& p : parts) s += p.score();
  return s;
}
double Graded::max_score() const {
  double s = 0;
  for (const GradedPart& p : parts) s += p.points;
  return s;
}

namespace {

Graded from_list(const ListedExercise& e) {
  Graded g;
  g.number = e.number;
  g.topic = e.topic;
  g.title = e.title;
  for (const ListedPart& lp : e.parts) {
    GradedPart p;
    p.number = lp.number;
    p.name = lp.name;
    p.points = lp.points;
    p.visibility = lp.visibility;
    g.parts.push_back(std::move(p));
  }
  return g;
}

// What in the report contradicts the list; empty when nothing does (so far as it goes).
std::string contradiction(const ListedExercise& e, const RawReport& r) {
  if (!r.error.empty()) return "its report is malformed (" + r.error + ")";
  if (!r.has_header) return "";
  if (r.exercise != e.number)
    return fmt::format("it reported exercise {:02}, not exercise {}", r.exercise, e.nn());
  if (r.topic != e.topic || r.title != e.title)
    return fmt::format("it reported exercise {} as '{} — {}', the list says '{} — {}'", e.nn(), shown(r.topic),
                       shown(r.title), e.topic, e.title);
  for (std::size_t i = 0; i < r.parts.size(); ++i) {
    const RawPart& p = r.parts[i];
    const int expected = static_cast<int>(i) + 1;
    if (i >= e.parts.size())
      return fmt::format("it reported part {}, but the list has {} parts", p.number, e.parts.size());
    if (p.number != expected)
      return fmt::format("it reported part {} where part {} was due", p.number, expected);
    if (p.name != e.parts[i].name)
      return fmt::format("its part {} is '{}', the list's is '{}'", p.number, shown(p.name), shown(e.parts[i].name));
  }
  if (r.end_state && r.parts.size() != e.parts.size())
    return fmt::format("it ended after {} of the list's {} parts", r.parts.size(), e.parts.size());
  return "";
}

std::string signal_text(int sig) {
  const char* name = ::strsignal(sig);
  return name != nullptr ? fmt::format("signal {} ({})", sig, name) : fmt::format("signal {}", sig);
}

void take_part(GradedPart& into, const RawPart& p) {
  into.status = p.status;
  into.seconds = p.seconds;
  into.what = p.what;
  into.message = p.message;
  into.output = p.output;
  into.hint = p.hint;
}

std::string state_of_parts(const Graded& g) {
  const auto all = [&](const char* status) {
    return std::all_of(g.parts.begin(), g.parts.end(), [&](const GradedPart& p) { return p.status == status; });
  };
  return all("passed") ? "done" : all("not started") ? "not started" : "failing";
}

}  // namespace

Graded without_grader(const ListedExercise& e, std::string state, std::string problem) {
  Graded g = from_list(e);
  g.state = std::move(state);
  g.problem = cap_text(problem, kMessageCap);
  for (GradedPart& p : g.parts) {
    p.status = g.state;
    p.message = g.problem;
  }
  return g;
}

Graded judge(const ListedExercise& e, const Outcome& run) {
  const RawReport r = parse_report(run.report);
  Graded g = from_list(e);
  g.seconds = std::isfinite(run.seconds) && run.seconds >= 0 ? run.seconds : 0;
  const bool finished = run.how == Outcome::How::exited && (run.code == 0 || run.code == 1) && r.end_state;
  if (const std::string wrong = contradiction(e, r); !wrong.empty()) {
    // Never a score, also when the grader then crashed: a crash does not excuse a lie.
    Graded invalid = without_grader(e, "grader output invalid", wrong);
    for (GradedPart& p : invalid.parts) p.status = "invalid";
    invalid.seconds = g.seconds;
    return invalid;
  }
  for (std::size_t i = 0; i < r.parts.size(); ++i) take_part(g.parts[i], r.parts[i]);
  if (finished) {
    g.state = state_of_parts(g);
    return g;
  }

  // The grader did not finish its report: say what happened, and where.
  std::string what;
  switch (run.how) {
    case Outcome::How::timed_out: what = fmt::format("timed out after {:.0f} s", g.seconds); break;
    case Outcome::How::signalled: what = "crashed: " + signal_text(run.code); break;
    case Outcome::How::stopped: what = fmt::format("stopped by {} and killed", signal_text(run.code)); break;
    case Outcome::How::could_not_start: what = "could not start: " + run.error; break;
    case Outcome::How::exited:
      what = r.end_state ? fmt::format("exited with status {}", run.code)
                         : fmt::format("exited (status {}) before its report was complete", run.code);
      break;
  }
  const std::size_t running = r.parts.size();  // the part it was in, counting from 0
  if (!r.has_header || (run.how == Outcome::How::timed_out && run.before_report))
    what += " (before its first part)";
  else if (running < g.parts.size())
    what += fmt::format(" in part {}", running + 1);
  else if (!r.end_state)
    what += " (after its last part)";
  g.state = run.how == Outcome::How::timed_out ? "timed out" : "crashed";
  g.problem = cap_text(what, kMessageCap);
  for (std::size_t i = running; i < g.parts.size(); ++i) {
    GradedPart& p = g.parts[i];
    p.status = i == running ? g.state : "not run";
    p.message = i == running ? g.problem : "not run: the grader " + g.problem;
  }
  return g;
}

Limits grader_limits(const ListedExercise& e, bool limit_address_space) {
  Limits l;
  l.report_start = std::chrono::seconds(kStartSeconds);
  // Each part may take kPartSeconds (the grader kills it then) plus a second to start and
  // report; the slack covers the grader's own start and end.
  l.wall = std::chrono::seconds(kStartSeconds + static_cast<int>(e.parts.size()) * (kPartSeconds + 1) + 5);
  l.cpu_seconds = static_cast<std::uint64_t>(l.wall.count() / 1000) + 5;
  l.file_size = 16ULL << 20;  // its output file (NN.out) included
  l.processes = 256;  // beyond what its user has: a fork bomb stops there
  // Threads each reserve address space (stacks, malloc arenas); sanitizers reserve
  // terabytes of shadow memory, so those builds cannot have this limit.
  if (limit_address_space) l.address_space = 4ULL << 30;
  return l;
}

std::vector<std::string> grader_arguments(bool quiet) {
  std::vector<std::string> args = {"--timeout", std::to_string(kPartSeconds), "--report", "/dev/fd/3"};
  if (quiet) args.insert(args.begin(), "--quiet");
  return args;
}

// ---- integrity -------------------------------------------------------------------------------

Integrity read_integrity(const std::filesystem::path& file) {
  Integrity in;
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    in.hits.push_back(fmt::format("{}: the integrity scan's results cannot be read", file.string()));
    return in;
  }
  std::size_t more = 0;
  for (std::string line; std::getline(f, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (in.hits.size() < 200) in.hits.push_back(cap_text(line, 500, "…"));
    else ++more;
  }
  if (more > 0) in.hits.push_back(fmt::format("… and {} more", more));
  return in;
}

// ---- results.json and junit.xml --------------------------------------------------------------

namespace {

// Text as a JSON string. The text is cleaned first (valid UTF-8, no control characters but
// newline and tab), so escaping quotes, backslashes, newline and tab is enough.
std::string json(std::string_view raw) {
  const std::string s = clean_text(raw);
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += "\\\"";
    else if (ch == '\\') out += "\\\\";
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(ch));
    else out += ch;
  }
  return out + "\"";
}

// Text for XML 1.0, in an element or an attribute: cleaned, the markup characters escaped,
// and U+FFFE and U+FFFF (valid UTF-8, but not XML characters) replaced.
std::string xml(std::string_view raw) {
  std::string s = clean_text(raw);
  for (std::size_t at; (at = s.find("\xEF\xBF\xBE")) != std::string::npos || (at = s.find("\xEF\xBF\xBF")) != std::string::npos;)
    s.replace(at, 3, "\xEF\xBF\xBD");
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch == '&') out += "&amp;";
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '"') out += "&quot;";
    else if (ch == '\n') out += "&#10;";
    else if (ch == '\t') out += "&#9;";
    else out += ch;
  }
  return out;
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "0"; }

std::size_t test_count(const std::vector<Graded>& all, const std::optional<Integrity>& integrity) {
  std::size_t n = integrity ? 1 : 0;
  for (const Graded& g : all) n += g.parts.size();
  return n;
}

// How many bytes of text one test may carry, so that the whole file stays under 1 MB
// however many tests there are (escaping may double it).
std::size_t per_test_cap(std::size_t tests) {
  constexpr std::size_t kBudget = 360 * 1024;
  return std::clamp<std::size_t>(kBudget / std::max<std::size_t>(tests, 1), 600, 12 * 1024);
}

std::string test_name(const Graded& g, const GradedPart& p) {
  return fmt::format("{} {} · part {} · {}", g.nn(), g.topic, p.number, p.name);
}

// What a test says: its status, what it checks, why it did not pass, the hint for
// what failed (as `./coop run` shows it), what it printed.
std::string test_text(const GradedPart& p) {
  std::string o = p.status + (p.what.empty() ? "" : ": " + p.what);
  if (!p.message.empty()) o += "\n" + p.message;
  if (!p.passed() && !p.hint.empty()) o += "\nhint: " + p.hint;
  if (!p.output.empty()) o += "\nit printed:\n" + p.output;
  return o;
}

std::string integrity_text(const Integrity& in) {
  if (in.hits.empty()) return "The integrity scan found nothing an exercise never needs.";
  std::string o = "The integrity scan found what an exercise never needs (check these by hand):";
  for (const std::string& h : in.hits) o += "\n" + h;
  return o;
}

}  // namespace

std::string results_json(const std::vector<Graded>& all, const std::optional<Integrity>& integrity,
                         double execution_seconds, std::string_view note) {
  const std::size_t cap = per_test_cap(test_count(all, integrity));
  double score = 0, max_score = 0;
  std::string tests, summary;
  for (const Graded& g : all) {
    score += g.score();
    max_score += g.max_score();
    summary += fmt::format("\n{} {}: {}, {} of {} parts pass{}", g.nn(), g.topic, g.state, g.passed(), g.parts.size(),
                           g.problem.empty() ? "" : " — " + cap_text(g.problem, 300, "…"));
    for (const GradedPart& p : g.parts) {
      if (!tests.empty()) tests += ",\n";
      tests += fmt::format(
          "    {{\"name\": {}, \"number\": \"{}.{}\", \"score\": {}, \"max_score\": {}, \"status\": \"{}\", "
          "\"visibility\": \"{}\", \"output\": {}}}",
          json(test_name(g, p)), g.number, p.number, number(p.score()), number(p.points),
          p.passed() ? "passed" : "failed", visibility_name(p.visibility), json(cap_text(test_text(p), cap)));
    }
  }
  if (integrity) {
    if (!tests.empty()) tests += ",\n";
    tests += fmt::format(
        "    {{\"name\": \"integrity\", \"score\": 0, \"max_score\": 0, \"status\": \"{}\", \"visibility\": "
        "\"hidden\", \"output\": {}}}",
        integrity->hits.empty() ? "passed" : "failed", json(cap_text(integrity_text(*integrity), 16 * 1024)));
  }
  std::string output = fmt::format("{} / {} points{}", number(score), number(max_score), cap_text(summary, 8 * 1024));
  if (!note.empty()) output += "\n" + cap_text(note, 8 * 1024);
  return fmt::format(
      "{{\n  \"score\": {},\n  \"max_score\": {},\n  \"execution_time\": {},\n  \"output\": {},\n"
      "  \"visibility\": \"visible\",\n  \"stdout_visibility\": \"hidden\",\n  \"tests\": [\n{}\n  ]\n}}\n",
      number(score), number(max_score), std::lround(std::isfinite(execution_seconds) ? execution_seconds : 0),
      json(output), tests);
}

std::string junit_xml(const std::vector<Graded>& all, const std::optional<Integrity>& integrity) {
  const std::size_t cap = per_test_cap(test_count(all, integrity));
  std::string suites;
  int total = 0, failures = 0, errors = 0, skipped = 0;
  double total_time = 0;
  for (const Graded& g : all) {
    int f = 0, e = 0, s = 0;
    double time = 0;
    std::string cases;
    for (const GradedPart& p : g.parts) {
      const double seconds = std::isfinite(p.seconds) ? p.seconds : 0;
      time += seconds;
      cases += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\">", xml(g.name()),
                           xml(fmt::format("part {} · {}", p.number, p.name)), seconds);
      const std::string message = xml(cap_text(p.status + (p.message.empty() ? "" : ": " + p.message), 500, "…"));
      const std::string body = xml(cap_text(test_text(p), cap));
      if (p.passed()) {
      } else if (p.status == "not started") {
        ++s;
        cases += fmt::format("<skipped message=\"{}\"/>", message);
      } else if (p.status == "failed") {
        ++f;
        cases += fmt::format("<failure message=\"{}\" type=\"failed\">{}</failure>", message, body);
      } else {  // a hang, a crash, a build failure, a timeout, an invalid report
        ++e;
        cases += fmt::format("<error message=\"{}\" type=\"{}\">{}</error>", message, xml(p.status), body);
      }
      cases += "</testcase>\n";
    }
    total += static_cast<int>(g.parts.size());
    failures += f;
    errors += e;
    skipped += s;
    total_time += time;
    suites += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n{}"
        "  </testsuite>\n",
        xml(g.name()), g.parts.size(), f, e, s, time, cases);
  }
  if (integrity) {
    const bool clean = integrity->hits.empty();
    ++total;
    failures += clean ? 0 : 1;
    suites += fmt::format(
        "  <testsuite name=\"integrity\" tests=\"1\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0.000\">\n"
        "    <testcase classname=\"integrity\" name=\"integrity\" time=\"0.000\">{}</testcase>\n  </testsuite>\n",
        clean ? 0 : 1,
        clean ? "" : fmt::format("<failure message=\"{}\" type=\"integrity\">{}</failure>",
                                 xml(fmt::format("{} hit(s)", integrity->hits.size())),
                                 xml(cap_text(integrity_text(*integrity), 16 * 1024))));
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"coop exercises\" tests=\"{}\" failures=\"{}\" "
      "errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n{}</testsuites>\n",
      total, failures, errors, skipped, total_time, suites);
}

bool write_atomically(const std::filesystem::path& file, std::string_view content, std::string* error) {
  const auto fail = [&](const std::string& what) {
    if (error != nullptr) *error = fmt::format("cannot write {}: {}", file.string(), what);
    return false;
  };
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  const std::string tmp = fmt::format("{}.tmp{}", file.string(), ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(why);
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  return true;
}

}  // namespace course
