// process.hpp — running the programs the course command drives: cmake (to build), the
// graders, coop_grade, git, the lessons. Each is a child process, so a grader that crashes
// is reported by the grader's parent, never a crash of this command.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "supervise.hpp"

namespace course {

using Args = std::vector<std::string>;

// Runs args (args[0] found on PATH when it has no '/') and waits. Returns its exit status,
// 128 + the signal when a signal ended it, 127 when it could not be started. stdin, stdout
// and stderr are this program's (for what a person watches: it is not supervised).
int run(const Args& args);

// The programs the course runs unattended (cmake, the graders, coop_grade, git) go through
// supervise(): stdin from /dev/null, none of our descriptors, their own process group,
// killed whole (grandchildren included) when they end or reach `limits`. The same statuses
// as run(), and 124 when `limits.wall` ran out (as timeout(1) says it), 128 + the signal
// when one stopped it.
//
// run_logged: stdout and stderr into `log`.
int run_logged(const Args& args, const std::filesystem::path& log, const Limits& limits = {});
// run_lines: each line of stdout and stderr handed to `line` (without its '\n'), as it comes;
// a line longer than LineSplitter::kMaxLine is cut there.
int run_lines(const Args& args, const std::function<void(std::string_view)>& line, const Limits& limits = {});
// The exit status above, for a caller that ran supervise() itself.
int status_of(const Outcome& outcome);
// Becomes args (exec): for the lessons, which own the terminal from then on. Returns only
// when args cannot be run.
void become(const Args& args);

// Whether `program` is on PATH (git, cmake).
bool on_path(const std::string& program);

}  // namespace course
