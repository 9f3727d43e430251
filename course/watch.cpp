// watch.cpp — `./coop watch`: grade the exercise being edited each time it is saved.
//
// The kernel tells us when a file under exercises/ has been written (inotify): an editor
// either writes the file in place (IN_CLOSE_WRITE) or writes a new one and renames it over
// the old (IN_MOVED_TO). A save often comes as a burst of events (a backup, the file, a
// rename), so we wait until the directory has been quiet for a moment, then grade the
// exercise of the last file saved, on a cleared screen, with the progress bar.
//
// Where there is no inotify (macOS, the BSDs) or it cannot be set up, the directory is
// polled instead: listed a few times a second, each file's modification time, size and
// inode compared with the last listing (`--poll` forces this, so it is tested on Linux too).
// Where neither sees saves (some network and virtual-machine file systems) `--manual` grades
// on Enter instead. Ctrl-C stops any of them, cleanly.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__) && !defined(COOP_PORTABLE) && __has_include(<sys/inotify.h>)
#include <sys/inotify.h>
#define COOP_HAVE_INOTIFY 1
#else
#define COOP_HAVE_INOTIFY 0
#endif

#include "commands.hpp"
#include "grading.hpp"
#include "state.hpp"
#include "terminal.hpp"

namespace course {

namespace {

using namespace std::chrono_literals;
constexpr auto kQuiet = 200ms;     // a save is over when nothing more happens for this long
constexpr auto kLongestSave = 2s;   // ...or after this, however busy the directory is
constexpr auto kPollEvery = 250ms;  // how often the directory is listed when polling

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

// Ctrl-C and kill end the loop; the signal also interrupts a wait (no SA_RESTART).
void stop_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// The exercise a saved file belongs to: 03_gather.cpp or 03_gather.hpp. Anything else (an
// editor's swap file, a backup, exercise.hpp) is not a save of an exercise.
const Exercise* exercise_of(const Layout& l, const std::string& file) {
  for (const Exercise& e : l.exercises)
    if (file == e.name() + ".cpp" || file == e.name() + ".hpp") return &e;
  return nullptr;
}

std::string now_hms() {
  const std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

// One screen: what happened, the grading, the bar, what to do.
void show(const Layout& l, const Exercise& e, const std::string& why, bool manual) {
  clear_screen();
  if (!stdout_is_terminal()) fmt::print("──── {} ────\n", why);  // a log has no screens to clear
  else fmt::print("{} watch · {} · {}\n\n", l.say, why, now_hms());
  remember_last_exercise(l, e.number);
  const std::string state = grade(l, e, true);
  if (g_stop) return;
  fmt::print("\n");
  print_progress_bar(l, e.number);
  if (state == "done") {
    if (const auto next = next_not_done(l, e.number))
      fmt::print("Exercise {} is done. Next: exercise {} ({}), in {} — the lesson: {} lesson {}\n", e.nn(), next->nn(),
                 next->topic, l.shown(l.student_file(*next)), l.say, next->number);
    else
      fmt::print("Every exercise is done. Well done!\n");
  }
  if (manual)
    fmt::print("Enter: grade exercise {} again · a number, then Enter: another exercise · Ctrl-C: stop\n", e.nn());
  else
    fmt::print("Watching exercises/: save a file to grade its exercise · Ctrl-C: stop "
               "(nothing happens on a save? {} watch --manual)\n",
               l.say);
  std::fflush(stdout);
}

// A line typed in --manual (or on the terminal while watching): Enter grades the same
// exercise again, a number another one, q stops.
struct Typed {
  bool stop = false;
  std::optional<int> exercise;  // what to grade now, if anything
};

class LineReader {
 public:
  // Reads what is there on stdin; each complete line is handed to `on_line`. Returns false
  // at the end of input.
  template <class F>
  bool read(F on_line) {
    char buf[256];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending_.find('\n')) != std::string::npos; pending_.erase(0, nl + 1))
      on_line(pending_.substr(0, nl));
    return true;
  }

 private:
  std::string pending_;
};

Typed typed(const Layout& l, const std::string& line, int current) {
  std::string word;
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r') word += c;
  if (word == "q" || word == "quit") return {true, std::nullopt};
  if (word.empty()) return {false, current};
  try {
    return {false, l.exercise(std::stoi(word)).number};
  } catch (const std::exception&) {
    fmt::print("(no exercise '{}': the exercises are {} to {})\n", word, l.exercises.front().number,
               l.exercises.back().number);
    std::fflush(stdout);
    return {};
  }
}

// The inotify descriptor watching exercises/, closed when done. Where there is no inotify,
// fd() is -1 and error() says so.
class DirectoryWatch {
 public:
  explicit DirectoryWatch(const fs::path& dir) {
#if COOP_HAVE_INOTIFY
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);  // CLOEXEC: not the graders' business
    const std::uint32_t events = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
    if (fd_ < 0 || ::inotify_add_watch(fd_, dir.c_str(), events) < 0) {
      error_ = std::strerror(errno);
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
#else
    (void)dir;
    error_ = "this system has no inotify";
#endif
  }
  ~DirectoryWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;

  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

  // Reads the events that are there: the names of the files saved, last one last. Sets
  // `gone` when the directory itself was moved or deleted.
  void read(std::vector<std::string>& saved, bool& gone) {
#if COOP_HAVE_INOTIFY
    alignas(inotify_event) char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return;  // EAGAIN: nothing more for now
      for (ssize_t at = 0; at < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0) gone = true;
        if (ev->len > 0) saved.emplace_back(ev->name);
        at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
#else
    (void)saved;
    (void)gone;
#endif
  }

 private:
  int fd_ = -1;
  std::string error_;
};

// The directory listed again and again, where inotify cannot tell us (see the top of this
// file). A save shows as a file whose time, size or inode changed (an editor that renames a
// new file over the old one changes the inode, even within one tick of a coarse clock).
class PollingWatch {
 public:
  explicit PollingWatch(fs::path dir) : dir_(std::move(dir)) {
    bool gone = false;
    seen_ = list(gone);
  }

  // The names of the files saved since the last call, the last one saved last. Sets `gone`
  // when the directory cannot be listed any more.
  void read(std::vector<std::string>& saved, bool& gone) {
    auto now = list(gone);
    if (gone) return;
    std::vector<std::pair<std::int64_t, std::string>> changed;
    for (const auto& [name, file] : now) {
      const auto was = seen_.find(name);
      if (was == seen_.end() || was->second != file) changed.emplace_back(file.mtime_ns, name);
    }
    std::sort(changed.begin(), changed.end());
    for (auto& c : changed) saved.push_back(std::move(c.second));
    seen_ = std::move(now);
  }

 private:
  struct File {
    std::int64_t mtime_ns = 0;
    std::uintmax_t size = 0;
    std::uint64_t inode = 0;
    bool operator==(const File&) const = default;
  };
  std::map<std::string, File> list(bool& gone) const {
    std::map<std::string, File> files;
    std::error_code ec;
    fs::directory_iterator it(dir_, ec);
    if (ec) {
      gone = true;
      return files;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      struct ::stat st {};
      if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone meanwhile, or a directory
      const auto t = fs::last_write_time(it->path(), ec);
      files[it->path().filename().string()] = {
          ec ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
          static_cast<std::uintmax_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
    }
    return files;
  }

  fs::path dir_;
  std::map<std::string, File> seen_;  // the last listing: name -> what identifies its content
};

// The exercise of the last file in `saved` that belongs to one, and that file's name.
std::pair<const Exercise*, std::string> last_exercise_saved(const Layout& l, const std::vector<std::string>& saved) {
  std::pair<const Exercise*, std::string> last{nullptr, ""};
  for (const std::string& file : saved)
    if (const Exercise* of = exercise_of(l, file)) last = {of, file};
  return last;
}

}  // namespace

int watch(const Layout& l, const Exercise& first, WatchOptions o) {
  stop_on_signals();
  const Exercise* current = &first;
  const fs::path dir = l.root / "exercises";
  // Set up before the first screen, so that a save while it grades is not missed.
  std::optional<DirectoryWatch> files;
  std::optional<PollingWatch> polled;
  if (!o.manual && !o.poll) {
    files.emplace(dir);
    if (files->fd() < 0) {
      if (COOP_HAVE_INOTIFY)
        fmt::print(stderr, "cannot watch exercises/ with inotify ({}): looking for saves {} times a second instead\n",
                   files->error(), 1000 / kPollEvery.count());
      files.reset();
    }
  }
  if (!o.manual && !files) polled.emplace(dir);
  // The terminal is read in both modes (Enter grades again); a pipe only in --manual, where
  // it is the way in: otherwise a watch started in the background would stop at once.
  const bool read_stdin = o.manual || stdin_is_terminal();
  LineReader lines;

  // Grades exercise n on a new screen; false when the watch is over (--once, Ctrl-C).
  const auto grade_now = [&](int n, const std::string& why) {
    current = &l.exercise(n);
    show(l, *current, why, o.manual);
    return !o.once && !g_stop;
  };
  const auto about = [&](int n) { return fmt::format("exercise {} · {}", l.exercise(n).nn(), l.exercise(n).topic); };

  show(l, *current, about(current->number), o.manual);
  bool watching = true;
  while (watching && !g_stop) {
    pollfd fds[2];
    nfds_t count = 0;
    int files_at = -1, stdin_at = -1;
    if (files) {
      files_at = static_cast<int>(count);
      fds[count++] = {files->fd(), POLLIN, 0};
    }
    if (read_stdin) {
      stdin_at = static_cast<int>(count);
      fds[count++] = {STDIN_FILENO, POLLIN, 0};
    }
    if (::poll(fds, count, polled ? static_cast<int>(kPollEvery.count()) : -1) < 0) {
      if (errno == EINTR) continue;  // Ctrl-C: g_stop is set
      throw Problem(fmt::format("watch: poll: {}", std::strerror(errno)));
    }

    if (stdin_at >= 0 && (fds[stdin_at].revents & (POLLIN | POLLHUP)) != 0) {
      std::vector<Typed> asked;
      watching = lines.read([&](const std::string& line) { asked.push_back(typed(l, line, current->number)); });
      for (const Typed& t : asked) {  // in the order typed: "4" then "q" grades 04, then stops
        if (t.stop || (t.exercise && !grade_now(*t.exercise, about(*t.exercise)))) {
          watching = false;
          break;
        }
      }
    }
    if (watching && files_at >= 0 && (fds[files_at].revents & POLLIN) != 0) {
      // Gather the whole save: read until the directory has been quiet for kQuiet.
      std::vector<std::string> saved;
      bool gone = false;
      const auto start = std::chrono::steady_clock::now();
      do {
        files->read(saved, gone);
      } while (!gone && !g_stop && std::chrono::steady_clock::now() - start < kLongestSave &&
               ::poll(&fds[files_at], 1, static_cast<int>(kQuiet.count())) > 0);
      if (gone) throw Problem("exercises/ was moved or deleted: stopped watching");
      // The exercise of the last file saved (a save may touch several files).
      const auto [e, name] = last_exercise_saved(l, saved);
      if (e != nullptr && !g_stop) watching = grade_now(e->number, fmt::format("{} saved", l.shown(dir / name)));
    }
    if (watching && polled && !g_stop) {
      std::vector<std::string> saved;
      bool gone = false;
      polled->read(saved, gone);
      // A save is over once a listing a moment later shows nothing more (or after the longest).
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t had = 0; !gone && !g_stop && saved.size() > had &&
                                std::chrono::steady_clock::now() - start < kLongestSave;) {
        had = saved.size();
        std::this_thread::sleep_for(kQuiet);
        polled->read(saved, gone);
      }
      if (gone) throw Problem("exercises/ was moved or deleted: stopped watching");
      const auto [e, name] = last_exercise_saved(l, saved);
      if (e != nullptr && !g_stop) watching = grade_now(e->number, fmt::format("{} saved", l.shown(dir / name)));
    }
  }
  if (o.once && !g_stop) return 0;
  fmt::print("\nStopped watching.\n");
  return 0;
}

}  // namespace course
