// process.hpp — running the programs the course command drives: cmake (to build), the
// graders, coop_grade, git, the lessons. Each is a child process, so a grader that crashes
// is reported by the grader's parent, never a crash of this command.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace course {

using Args = std::vector<std::string>;

// Runs args (args[0] found on PATH when it has no '/') and waits. Returns its exit status,
// 128 + the signal when a signal ended it, 127 when it could not be started. stdin, stdout
// and stderr are this program's.
int run(const Args& args);
// The same, with stdout and stderr into `log` and stdin from /dev/null.
int run_logged(const Args& args, const std::filesystem::path& log);
// The same, with each line of stdout and stderr handed to `line` (without its '\n').
int run_lines(const Args& args, const std::function<void(std::string_view)>& line);
// Becomes args (exec): for the lessons, which own the terminal from then on. Returns only
// when args cannot be run.
void become(const Args& args);

// Whether `program` is on PATH (git, cmake).
bool on_path(const std::string& program);

}  // namespace course
