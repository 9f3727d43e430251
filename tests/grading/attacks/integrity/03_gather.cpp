// Every construct the integrity scan must flag, each on the line after its `expect:` marker
// (the scanner's self-test reads them: course/autograde/integrity.py --self-test). Named like
// an exercise so that its own header, "03_gather.hpp", is the one include allowed.
#include "03_gather.hpp"
#include "exercise.hpp"
#include <coop/coop.hpp>
#include <vector>
// expect: #include <unistd.h>
#include <unistd.h>
// expect: #include <csignal>
#include <csignal>
// expect: #include "../solutions/03_gather.cpp"
#include "../solutions/03_gather.cpp"
// expect: #include "grader.hpp"
#include "grader.hpp"
// expect: #include "04_create_task.hpp"
#include "04_create_task.hpp"
// expect: #include <coop/../../tests/grading/03_gather.cpp>
#include <coop/../../tests/grading/03_gather.cpp>
// expect: #include "/etc/passwd"
#include "/etc/passwd"
// expect: #include <fmt/format.h>
#include <fmt/format.h>
// expect: #define private
#define private public
// expect: #define co_await
#define co_await
// expect: #define check
#define check(ok, message)
// expect: #undef NDEBUG
#undef NDEBUG
// expect: #define __GLIBC__
#define __GLIBC__ 9
// expect: #define NAME with # or ##
#define NAME(a, b) a##b
// expect: #pragma
#pragma GCC optimize("O0")
// expect: #line
#line 1 "grader.cpp"
// expect: #include_next
#include_next <vector>
// expect: #include MACRO
#include MACRO
// expect: #pragma
%:pragma once
// expect: #define private
#define \
  private public

// expect: extern "C"
extern "C" ssize_t write(int, const void*, unsigned long) { return 0; }
// expect: extern "C"
extern  "C" {
}
// expect: asm
static int a = [] { asm("nop"); return 0; }();
// expect: __asm__
static int b = [] { __asm__ volatile("nop"); return 0; }();
// expect: __attribute__
__attribute__((constructor)) static void early() {}
// expect: [[gnu::...]] attribute
[[gnu::constructor]] static void early2() {}
// expect: _Pragma
_Pragma("GCC diagnostic ignored \"-Wall\"")

// expect: namespace grading
namespace grading {
void check(bool, const char*) {}
}  // namespace grading
// expect: namespace coop
namespace coop::detail {}
// expect: namespace std
namespace std {}
// expect: namespace exercise
namespace exercise {}
// expect: definition of coop::now
coop::Clock::time_point coop::now() { return {}; }
// expect: definition of grading::fail
[[noreturn]] void grading::fail(std::string message) { for (;;) (void)message; }
// expect: definition of std::hash
template <> struct std::hash<ex03::Source> { std::size_t operator()(const ex03::Source&) const; };

static void calls(int fd, const char* path) {
  // expect: fork() (process)
  fork();
  // expect: execv() (process)
  execv(path, nullptr);
  // expect: kill() (signal)
  kill(0, 9);
  // expect: raise() (signal)
  std::raise(SIGSTOP);
  // expect: signal() (signal)
  ::signal(SIGTERM, SIG_IGN);
  // expect: sigaction() (signal)
  sigaction(SIGTERM, nullptr, nullptr);
  // expect: setsid() (process group)
  setsid();
  // expect: setpgid() (process group)
  setpgid(0, 0);
  // expect: ptrace() (environment)
  ptrace(0, 0, nullptr, nullptr);
  // expect: _exit() (exit)
  _exit(0);
  // expect: exit() (exit)
  std::exit(0);
  // expect: quick_exit() (exit)
  quick_exit(0);
  // expect: abort() (exit)
  abort();
  // expect: atexit() (exit)
  std::atexit([] {});
  // expect: at_quick_exit() (exit)
  at_quick_exit([] {});
  // expect: write() (descriptor)
  write(3, "part\tpassed", 11);
  // expect: open() (descriptor)
  fd = open(path, 0);
  // expect: dup() (descriptor)
  dup(fd);
  // expect: dup2() (descriptor)
  dup2(fd, 1);
  // expect: pipe() (descriptor)
  pipe(nullptr);
  // expect: close() (descriptor)
  close(fd);
  // expect: socket() (descriptor)
  socket(0, 0, 0);
  // expect: system() (process)
  std::system("true");
  // expect: popen() (process)
  popen("true", "r");
  // expect: syscall() (dynamic linking)
  syscall(39);
  // expect: dlopen() (dynamic linking)
  dlopen(nullptr, 0);
  // expect: std::ofstream (file)
  std::ofstream out(path);
  // expect: std::filesystem (file)
  std::filesystem::remove(path);
  // expect: getenv() (environment)
  (void)std::getenv("HOME");
  // expect: kill() (signal)
  auto* f = &kill;
  (void)f;
}
// expect: extern "C"
extern R"(C)" int raw_string_linkage();
// expect: a line splice
int sp\
liced = 0;
