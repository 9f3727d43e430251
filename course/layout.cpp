// layout.cpp — finding the repository and the build directory; the exercises there are
// (from the list) and the lessons (from their files' names).
#include "layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <system_error>

namespace course {

std::string Exercise::nn() const { return fmt::format("{:02}", number); }
std::string Exercise::name() const { return nn() + "_" + topic; }

namespace {

// "03_gather.cpp" -> {3, "gather"}; anything else (exercise.hpp, README.md) -> nullopt.
std::optional<Exercise> numbered(const fs::path& file) {
  const std::string name = file.filename().string();
  if (file.extension() != ".cpp" || name.size() < 8 || !std::isdigit(static_cast<unsigned char>(name[0])) ||
      !std::isdigit(static_cast<unsigned char>(name[1])) || name[2] != '_')
    return std::nullopt;
  return Exercise{std::stoi(name.substr(0, 2)), file.stem().string().substr(3)};
}

std::vector<Exercise> numbered_files(const fs::path& dir) {
  std::vector<Exercise> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (auto e = numbered(entry.path())) found.push_back(*e);
  std::sort(found.begin(), found.end(), [](const Exercise& a, const Exercise& b) { return a.number < b.number; });
  return found;
}

const Exercise& by_number(const std::vector<Exercise>& list, int n, const char* what) {
  for (const Exercise& e : list)
    if (e.number == n) return e;
  if (list.empty()) throw Problem(fmt::format("there are no {}s here", what), 2);
  // The numbers there are, said as CourseList says them: "1 to 9", "1, 2 and 5".
  CourseList numbers;
  for (const Exercise& e : list) numbers.exercises.push_back({e.number, e.topic, "", {}});
  throw Problem(fmt::format("there is no {} {} (the {}s are {})", what, n, what, numbers.range()), 2);
}

// The value of KEY in a CMakeCache.txt ("KEY:TYPE=value").
std::string cache_value(const fs::path& cache, const std::string& key) {
  std::ifstream f(cache);
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

const Exercise& Layout::exercise(int n) const { return by_number(exercises, n, "exercise"); }
const Exercise& Layout::lesson(int n) const { return by_number(lessons, n, "lesson"); }
bool Layout::has_exercise(int n) const {
  return std::any_of(exercises.begin(), exercises.end(), [n](const Exercise& e) { return e.number == n; });
}
const ListedExercise& Layout::listed(const Exercise& e) const {
  if (const ListedExercise* found = list.find(e.number)) return *found;
  throw Problem(fmt::format("exercise {} is not in {}", e.nn(), shown(course_list_file(root))));
}

std::vector<Exercise> exercises_of(const CourseList& list) {
  std::vector<Exercise> out;
  for (const ListedExercise& e : list.exercises) out.push_back({e.number, e.topic});
  return out;
}

std::string Layout::shown(const fs::path& p) const {
  const fs::path rel = p.lexically_relative(root);
  return rel.empty() || rel.string().rfind("..", 0) == 0 ? p.string() : rel.string();
}

Layout find_layout(const char* argv0) {
  Layout l;
  if (const std::string b = env("COOP_BUILD"); !b.empty()) {
    l.build = fs::absolute(b);
  } else {
    // Where this program is: Linux's /proc says so even when argv[0] is not a path; elsewhere
    // (and in the portable build) argv[0], which ./coop and make give as a path.
    std::error_code ec = std::make_error_code(std::errc::not_supported);
    fs::path exe;
#if defined(__linux__) && !defined(COOP_PORTABLE)
    exe = fs::read_symlink("/proc/self/exe", ec);
#endif
    if (ec) exe = fs::absolute(argv0);
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      if (fs::exists(dir / "CMakeCache.txt")) {
        l.build = dir;
        break;
      }
      if (dir == dir.root_path()) break;
    }
    if (l.build.empty())
      throw Problem(fmt::format("cannot find the build directory above {} (set COOP_BUILD)", exe.string()));
  }
  if (!fs::exists(l.build / "CMakeCache.txt"))
    throw Problem(fmt::format("{} is not a build directory yet (make builds one)", l.build.string()));
  if (const std::string r = env("COOP_ROOT"); !r.empty())
    l.root = fs::absolute(r);
  else
    l.root = cache_value(l.build / "CMakeCache.txt", "CMAKE_HOME_DIRECTORY");
  if (l.root.empty() || !fs::is_directory(l.root / "exercises"))
    throw Problem(fmt::format("cannot find the course's exercises/ (in '{}'; set COOP_ROOT)", l.root.string()));
  l.root = fs::canonical(l.root);
  l.list = read_course_list(course_list_file(l.root));
  if (!l.list.ok()) {
    std::string what = l.list.errors.front();
    if (l.list.errors.size() > 1) what += fmt::format(" (and {} more problems in the list)", l.list.errors.size() - 1);
    throw Problem(what);
  }
  l.exercises = exercises_of(l.list);
  l.lessons = numbered_files(l.root / "lessons");
  l.say = env("COOP_LAUNCHER");
  if (l.say.empty()) l.say = argv0;
  return l;
}

}  // namespace course
