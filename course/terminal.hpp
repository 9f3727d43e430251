// terminal.hpp — the few things the course command does differently on a terminal: a
// status line while it builds, a cleared screen in `watch`, the width for `solution`, and
// asking before it does something that cannot be undone. Written to a file or a pipe, the
// output has no escape codes and nothing waits for an answer that cannot come.
#pragma once

#include <string>

namespace course {

bool stdout_is_terminal();
bool stdin_is_terminal();

// Columns of the terminal (or COLUMNS; 80 when neither says).
int terminal_width();

// Clears the screen and its scrollback (a terminal only).
void clear_screen();

// Asks a yes/no question on stdout and reads the answer from stdin (a pipe works too:
// `echo y | ./coop reset 3`). Enter alone, or the end of input, gives `fallback`.
bool ask(const std::string& question, bool fallback);

// "building exercise 03…" on a terminal while something slow runs, erased afterwards.
class StatusLine {
 public:
  explicit StatusLine(const std::string& text);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;
  void clear();

 private:
  bool shown_ = false;
};

}  // namespace course
