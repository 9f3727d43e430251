// state.cpp — the remembered keys (course.state) and the last reports (NN.report).
#include "state.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

namespace course {

namespace {
constexpr const char* kRemembered = "course.state";  // the same name coop_grade uses
}

std::map<std::string, std::string> read_remembered(const Layout& l) {
  std::map<std::string, std::string> kv;
  std::ifstream f(l.state_dir() / kRemembered);
  for (std::string line; std::getline(f, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key[0] != '#') kv[key] = value;
  }
  return kv;
}

void write_remembered(const Layout& l, const std::map<std::string, std::string>& kv) {
  fs::create_directories(l.state_dir());
  const fs::path tmp = l.state_dir() / (std::string(kRemembered) + ".tmp");
  {
    std::ofstream f(tmp);
    f << "# What coop remembers between commands (make hint, ./coop): hint levels, the last\n"
         "# exercise. Delete this file to forget it all.\n";
    for (const auto& [k, v] : kv) f << k << ' ' << v << '\n';
  }
  fs::rename(tmp, l.state_dir() / kRemembered);  // all or nothing, even if interrupted
}

std::optional<int> last_exercise(const Layout& l) {
  const auto kv = read_remembered(l);
  const auto it = kv.find("last");
  if (it == kv.end()) return std::nullopt;
  try {
    const int n = std::stoi(it->second);
    if (l.has_exercise(n)) return n;
  } catch (const std::exception&) {
  }
  return std::nullopt;  // not a number, or an exercise that is gone: as if never set
}

void remember_last_exercise(const Layout& l, int n) {
  auto kv = read_remembered(l);
  if (kv["last"] == std::to_string(n)) return;
  kv["last"] = std::to_string(n);
  write_remembered(l, kv);
}

fs::path report_file(const Layout& l, const Exercise& e) { return l.state_dir() / (e.nn() + ".report"); }

std::optional<Report> last_report(const Layout& l, const Exercise& e) {
  const fs::path file = report_file(l, e);
  std::ifstream f(file);
  std::string line;
  if (!std::getline(f, line) || line.rfind("exercise\t", 0) != 0) return std::nullopt;
  Report r;
  r.state = line.substr(line.rfind('\t') + 1);  // the last field of the first line
  while (std::getline(f, line)) {
    if (line.rfind("part\t", 0) != 0) continue;
    ++r.parts;  // part \t K \t status \t ...
    const std::size_t status = line.find('\t', 5) + 1;
    r.passed += line.compare(status, 7, "passed\t") == 0;
  }
  std::error_code ec;
  const auto graded = fs::last_write_time(file, ec);
  r.fresh = !ec;
  for (const fs::path& source : {l.student_file(e), l.contract_file(e)}) {
    const auto changed = fs::last_write_time(source, ec);
    if (!ec && changed > graded) r.fresh = false;
  }
  return r;
}

void report_does_not_compile(const Layout& l, const Exercise& e) {
  fs::create_directories(l.state_dir());
  std::ofstream(report_file(l, e)) << "exercise\t" << e.number << '\t' << e.topic << "\t\tdoes not compile\n";
}

}  // namespace course
