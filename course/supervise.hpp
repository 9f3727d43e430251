// supervise.hpp — running a program we do not trust (a grader, with the student's code
// linked in) so that nothing it does can hang, outlive or fool the program that runs it.
//
// The rules, enforced from outside the child, so they hold from its first instruction
// (static initialisation included):
//   - a wall-clock limit: at the limit the child and everything it started are killed;
//   - its own process group, killed whole when it ends or times out (kill(0, ...) inside
//     reaches only its own group); on Linux this process is also a child subreaper, so a
//     grandchild that escaped with setsid() is found and killed too;
//   - a child stopped by a signal (SIGSTOP, SIGTSTP) is not waited for: it is killed and
//     reported as stopped;
//   - resource limits (address space, CPU seconds, file size, processes, no core file);
//   - only the descriptors it needs: stdin from /dev/null, stdout and stderr to us, and an
//     optional report pipe as descriptor 3; nothing else of ours leaks into it;
//   - output read as it comes, line by line in linear time, kept up to a cap, cut on a
//     UTF-8 character boundary.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace course {

struct Limits {
  std::chrono::milliseconds wall{0};  // the whole process, from fork to exit; 0 = no limit
  std::uint64_t address_space = 0;    // bytes (RLIMIT_AS); 0 = as inherited; see address_space_limit_applies()
  std::uint64_t cpu_seconds = 0;      // RLIMIT_CPU; 0 = as inherited
  std::uint64_t file_size = 0;        // bytes one file may grow to (RLIMIT_FSIZE); 0 = as inherited
  // How many processes the child's user may start beyond those it has now (RLIMIT_NPROC
  // counts every process of a user, the build and the editor included: so the limit is
  // set to their number plus this). Where they cannot be counted (no /proc), applied only
  // with Spec::uid, a user of its own. Not enforced for root. 0 = as inherited.
  std::uint64_t processes = 0;
  // With Spec::report_pipe: the child must write its first report byte within this long, or
  // it is killed as timed out. A grader writes its header line as main() begins, so this
  // bounds static initialisation (the student's code runs before main). 0 = no such limit.
  std::chrono::milliseconds report_start{0};
};

// What the child runs: a program (argv[0] with a '/' or found on PATH), or a function in
// the forked child (a grader's part), which must end the process itself (_exit).
struct Spec {
  std::vector<std::string> argv;
  std::function<void()> child;  // used when argv is empty

  Limits limits;
  // Where stdout and stderr go: a file (truncated), or else captured into Outcome::output
  // (up to output_cap bytes, the rest counted but dropped) and, when on_line is set, handed
  // over one line at a time (without its '\n') as they arrive.
  std::optional<std::filesystem::path> output_file;
  std::size_t output_cap = 64 * 1024;
  std::function<void(std::string_view)> on_line;
  // A pipe whose write end the child gets as descriptor 3 (a grader writes its report there:
  // `--report /dev/fd/3`); what it wrote is Outcome::report, capped at report_cap.
  bool report_pipe = false;
  std::size_t report_cap = 1024 * 1024;
  // Run as this user and group (autograding as root: an unprivileged user). Unset: as we are.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<std::filesystem::path> working_directory;
  // The child's whole environment ("NAME=value" each). Unset: ours. Running as another user,
  // give it one: ours would tell it root's home, paths and whatever else root has set.
  std::optional<std::vector<std::string>> environment;
};

struct Outcome {
  enum class How {
    exited,          // code is the exit status
    signalled,       // code is the signal that ended it
    timed_out,       // the wall-clock limit ran out; it was killed
    stopped,         // a signal stopped it (code); it was killed rather than waited for
    could_not_start  // fork, exec or a limit failed; error says why
  };
  How how = How::could_not_start;
  int code = 0;
  double seconds = 0;     // wall-clock, from fork to the end
  std::string output;     // stdout + stderr (when not to a file), capped, valid UTF-8
  bool output_truncated = false;
  std::string report;     // what it wrote to descriptor 3 (report_pipe), capped
  bool report_truncated = false;
  std::string error;      // could_not_start: what failed
  bool before_report = false;  // timed_out before the first report byte (Limits::report_start)
  double limit_seconds = 0;    // timed_out: the limit that ran out (wall, or report_start)

  bool ok() const { return how == How::exited && code == 0; }
  // One line for a person: "exited with status 1", "crashed: signal 11 (Segmentation
  // fault)", "timed out after 10 s", "timed out after 10 s (before its first part)",
  // "stopped by signal 19 (Stopped (signal)) and killed".
  std::string describe() const;
};

// Runs spec to its end (or its limit) and says how it went. Never throws, never hangs past
// the wall limit (plus the moment it takes to kill), never leaves a process behind.
// Several threads may supervise at once. But on Linux every child of this process that no
// supervise() is watching counts as a leftover when one ends, and is killed and reaped:
// a program that supervises does not also keep children of its own running meanwhile.
Outcome supervise(const Spec& spec);

// Whether Limits::address_space is applied in this build. Not under AddressSanitizer or
// ThreadSanitizer: they reserve terabytes of address space at start, so any limit that
// lets them start limits nothing.
bool address_space_limit_applies();

// Splits a stream into lines in linear time: feed() what arrives, finish() at the end.
// A line longer than kMaxLine bytes is handed over once, cut there (on a UTF-8 character
// boundary) and marked " [line truncated]"; the rest of it is skipped. Lines are otherwise
// passed on as they came (not cleaned: a file name from git must stay exact).
class LineSplitter {
 public:
  static constexpr std::size_t kMaxLine = 8 * 1024;

  explicit LineSplitter(std::function<void(std::string_view)> line) : line_(std::move(line)) {}
  void feed(std::string_view bytes);
  void finish();  // the last line, if it had no '\n'

 private:
  void deliver_long();

  std::function<void(std::string_view)> line_;
  std::string pending_;    // the start of a line whose '\n' has not come yet (at most kMaxLine + 1)
  bool skipping_ = false;  // inside a line already handed over as truncated
};

}  // namespace course
