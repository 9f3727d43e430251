// terminal.cpp — ioctl for the width, ANSI escapes for the screen.
#include "terminal.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace course {

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }
bool stdin_is_terminal() { return ::isatty(STDIN_FILENO) == 1; }

int terminal_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS"); c != nullptr && std::atoi(c) > 0) return std::atoi(c);
  return 80;
}

void clear_screen() {
  if (!stdout_is_terminal()) return;
  fmt::print("\x1b[H\x1b[2J\x1b[3J");  // home, clear the screen, clear the scrollback
}

bool ask(const std::string& question, bool fallback) {
  fmt::print("{} [{}] ", question, fallback ? "Y/n" : "y/N");
  std::fflush(stdout);
  std::string answer;
  if (!std::getline(std::cin, answer)) {
    fmt::print("\n");
    return fallback;
  }
  if (!stdin_is_terminal()) fmt::print("{}\n", answer);  // so that a log reads as a dialogue
  for (char c : answer) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    return c == 'y' || c == 'Y';
  }
  return fallback;
}

StatusLine::StatusLine(const std::string& text) : shown_(stdout_is_terminal()) {
  if (!shown_) return;
  fmt::print("{}", text);
  std::fflush(stdout);
}

StatusLine::~StatusLine() { clear(); }

void StatusLine::clear() {
  if (!shown_) return;
  fmt::print("\r\x1b[K");
  std::fflush(stdout);
  shown_ = false;
}

}  // namespace course
