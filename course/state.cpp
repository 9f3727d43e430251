// state.cpp — the remembered keys (course.state) and the stored verdicts (NN.report).
//
// Reading never throws and never trusts the files: they live in the build directory, which
// the student can edit, so a file that does not parse is treated as absent.
#include "state.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace course {

namespace {

constexpr const char* kRemembered = "course.state";
constexpr const char* kGradedVersion = "1";

std::string read_all(const fs::path& file, bool& ok) {
  std::ifstream f(file, std::ios::binary);
  ok = static_cast<bool>(f);
  return ok ? std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()) : std::string();
}

}  // namespace

// ---- course.state ----------------------------------------------------------------------------

std::map<std::string, std::string> read_remembered(const fs::path& state_dir) {
  std::map<std::string, std::string> kv;
  std::ifstream f(state_dir / kRemembered);
  for (std::string line; std::getline(f, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key[0] != '#') kv[key] = value;
  }
  // Before course.state, the hint levels were alone in STATE/hints (`03.1 2`): carried over.
  bool any_hint = false;
  for (const auto& [key, value] : kv) any_hint = any_hint || key.rfind("hint.", 0) == 0;
  if (!any_hint) {
    std::ifstream old(state_dir / "hints");
    std::string key, value;
    while (old >> key >> value) kv["hint." + key] = value;
  }
  return kv;
}

void write_remembered(const fs::path& state_dir, const std::map<std::string, std::string>& kv) {
  std::string text =
      "# What coop remembers between commands (make hint, ./coop): hint levels, the last\n"
      "# exercise. Delete this file to forget it all.\n";
  for (const auto& [k, v] : kv) text += k + ' ' + v + '\n';
  write_atomically(state_dir / kRemembered, text);  // all or nothing, even if interrupted
}

std::map<std::string, std::string> read_remembered(const Layout& l) { return read_remembered(l.state_dir()); }
void write_remembered(const Layout& l, const std::map<std::string, std::string>& kv) {
  write_remembered(l.state_dir(), kv);
}

std::optional<int> last_exercise(const Layout& l) {
  const auto kv = read_remembered(l);
  const auto it = kv.find("last");
  int n = 0;
  if (it != kv.end() && parse_count(it->second, n) && l.has_exercise(n)) return n;
  return std::nullopt;  // never set, not a number, or an exercise that is gone
}

void remember_last_exercise(const Layout& l, int n) {
  auto kv = read_remembered(l);
  if (kv["last"] == std::to_string(n)) return;
  kv["last"] = std::to_string(n);
  write_remembered(l, kv);
}

// ---- NN.report -------------------------------------------------------------------------------

fs::path graded_file(const fs::path& state_dir, int exercise) {
  return state_dir / fmt::format("{:02}.report", exercise);
}

bool store_graded(const fs::path& state_dir, const Graded& g, std::string* error) {
  std::string text = fmt::format("graded\t{}\t{}\t{}\t{}\t{}\t{:.3f}\t{}\n", kGradedVersion, g.number,
                                 escape_field(g.topic), escape_field(g.title), escape_field(g.state), g.seconds,
                                 escape_field(g.problem));
  for (const GradedPart& p : g.parts)
    text += fmt::format("part\t{}\t{}\t{:.3f}\t{}\t{}\t{}\t{}\t{}\n", p.number, escape_field(p.status), p.seconds,
                        escape_field(p.name), escape_field(p.what), escape_field(p.message), escape_field(p.output),
                        escape_field(p.hint));
  return write_atomically(graded_file(state_dir, g.number), text, error);
}

std::optional<Graded> load_graded(const fs::path& state_dir, const ListedExercise& e) {
  bool ok = false;
  const std::string text = read_all(graded_file(state_dir, e.number), ok);
  if (!ok) return std::nullopt;
  std::optional<Graded> g;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const auto f = split_fields(std::string_view(text).substr(at, nl - at));
    at = nl + 1;
    if (!g) {
      // The first line: a verdict of this exercise, in this format (an old grader's raw
      // report, left from before, is not one).
      int n = 0;
      if (f.size() != 8 || f[0] != "graded" || f[1] != kGradedVersion || !parse_count(f[2], n) || n != e.number ||
          f[3] != e.topic)
        return std::nullopt;
      g.emplace(without_grader(e, f[5], f[7]));
      parse_decimal(f[6], g->seconds);
      for (GradedPart& p : g->parts) p.message.clear();
      continue;
    }
    int k = 0;
    // 9 fields; 8 in a verdict stored before hints were kept (it has none).
    if ((f.size() != 8 && f.size() != 9) || f[0] != "part" || !parse_count(f[1], k) || k < 1 ||
        static_cast<std::size_t>(k) > g->parts.size())
      return std::nullopt;
    GradedPart& p = g->parts[static_cast<std::size_t>(k) - 1];
    if (p.name != f[4]) return std::nullopt;  // the list renamed it since: a verdict on something else
    p.status = f[2];
    parse_decimal(f[3], p.seconds);
    p.what = f[5];
    p.message = f[6];
    p.output = f[7];
    p.hint = f.size() == 9 ? f[8] : "";
  }
  return g;
}

void forget_graded(const fs::path& state_dir, int exercise) {
  std::error_code ec;
  fs::remove(graded_file(state_dir, exercise), ec);
}

fs::path report_file(const Layout& l, const Exercise& e) { return graded_file(l.state_dir(), e.number); }

std::optional<Report> last_report(const Layout& l, const Exercise& e) {
  const ListedExercise* listed = l.list.find(e.number);
  if (listed == nullptr) return std::nullopt;
  auto g = load_graded(l.state_dir(), *listed);
  if (!g) return std::nullopt;
  Report r;
  r.state = g->state;
  r.passed = g->passed();
  r.parts = static_cast<int>(g->parts.size());
  r.graded = std::move(*g);
  std::error_code ec;
  const auto graded = fs::last_write_time(report_file(l, e), ec);
  r.fresh = !ec;
  for (const fs::path& source : {l.student_file(e), l.contract_file(e)}) {
    const auto changed = fs::last_write_time(source, ec);
    if (!ec && changed > graded) r.fresh = false;
  }
  return r;
}

void report_does_not_compile(const Layout& l, const Exercise& e) {
  const ListedExercise* listed = l.list.find(e.number);
  if (listed == nullptr) return;
  store_graded(l.state_dir(), without_grader(*listed, "does not compile",
                                             fmt::format("{} does not compile", l.shown(l.student_file(e)))));
}

std::vector<std::string> grader_command(const Layout& l, const Exercise& e, bool quiet) {
  std::vector<std::string> argv = {l.grader(e).string()};
  for (std::string& a : grader_arguments(quiet)) argv.push_back(std::move(a));
  return argv;
}

Graded record_grading(const Layout& l, const Exercise& e, const Outcome& run) {
  const ListedExercise* listed = l.list.find(e.number);
  if (listed == nullptr)  // cannot happen: Layout's exercises are the list's
    return without_grader(ListedExercise{e.number, e.topic, "", {}}, "grader output invalid",
                          "the exercise is not in the list");
  Graded g = judge(*listed, run);
  store_graded(l.state_dir(), g);
  return g;
}

}  // namespace course
