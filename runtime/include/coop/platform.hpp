// platform.hpp — which Linux-only calls this build may use.
//
// coop runs on POSIX: what macOS has. Where Linux offers a better call (one that sets a
// flag atomically, or measures what POSIX cannot), the code uses it behind one of the
// macros below, so a reader sees at once what a Mac builds. Each is 1 on Linux and 0
// elsewhere, and 0 on Linux too in the portable build (cmake -DCOOP_PORTABLE=ON), which
// CI builds and tests so that the POSIX path never rots.
#pragma once

#include <unistd.h>  // glibc's features.h, for __GLIBC__

#if defined(__linux__) && !defined(COOP_PORTABLE)
#define COOP_LINUX_CALLS 1
#else
#define COOP_LINUX_CALLS 0
#endif

// epoll, for programs that wait on sockets by hand (bench/echo_client's epoll engine). The
// runtime's epoll poller is chosen by CMake instead (poller_epoll.cpp, Linux only).
#define COOP_HAS_EPOLL COOP_LINUX_CALLS
// accept4(), and SOCK_NONBLOCK | SOCK_CLOEXEC given to socket(): a new descriptor with
// its flags set in the same call. Elsewhere: accept()/socket(), then fcntl().
#define COOP_HAS_ACCEPT4 COOP_LINUX_CALLS
// pipe2(O_CLOEXEC). Elsewhere: pipe(), then fcntl().
#define COOP_HAS_PIPE2 COOP_LINUX_CALLS
// getrusage(RUSAGE_THREAD): one thread's CPU time, in user and system parts. Elsewhere:
// clock_gettime(CLOCK_THREAD_CPUTIME_ID), their sum.
#define COOP_HAS_RUSAGE_THREAD COOP_LINUX_CALLS
// sched_getcpu() and pthread_setaffinity_np(): the CPU a thread runs on, and pinning it there.
#define COOP_HAS_CPU_AFFINITY COOP_LINUX_CALLS
// The /proc file system: /proc/self/status (resident memory), /proc/meminfo,
// /proc/sys/kernel/threads-max, /proc/self/exe. Elsewhere those readings are left out.
#define COOP_HAS_PROC_FS COOP_LINUX_CALLS
// glibc's extensions: <malloc.h> (malloc_trim(), malloc_usable_size()) and
// pthread_getattr_default_np().
#if COOP_LINUX_CALLS && defined(__GLIBC__)
#define COOP_HAS_GLIBC 1
#else
#define COOP_HAS_GLIBC 0
#endif
