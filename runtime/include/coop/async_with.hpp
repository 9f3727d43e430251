// async_with.hpp — `async with`: a resource whose entry and exit may await.
//
// asyncio:   async with connect(host) as conn:      C++:   co_await async_with(conn, [](Connection& c) -> Task<void> {
//                await conn.send(b"hi")                        co_await c.send("hi");
//                                                           });
//
// A resource R provides two coroutines: `Task<void> aenter()` (connect, take a lease) and
// `Task<void> aexit(std::exception_ptr)` (close, give it back; the argument says how the
// body ended: null when it returned, else its exception, CancelledError included).
// async_with awaits aenter, then the body, then aexit exactly once whatever the body did
// (returned, threw, was cancelled), and then lets the body's exception go on. If aenter
// throws, neither the body nor aexit runs: the resource was never entered.
//
// Why a function and not RAII? C++'s tool for "always clean up" is the destructor, but a
// destructor cannot co_await: it runs synchronously, so it could not wait for a close
// handshake without blocking the whole loop. And a catch block cannot co_await either. So
// the cleanup that awaits has to run after the handler has been left, which is what this
// function packages:
//     try { co_await body } catch (...) { error = std::current_exception(); }
//     co_await resource.aexit(error);
//     if (error) std::rethrow_exception(error);
// Cancellation fits in because a cancel() is delivered once: aexit's own awaits work.
//
// The body is a callable taking R& and returning Task<U>; async_with returns Task<U>. It is
// stored in async_with's frame, which lives until the body has finished, so a lambda body
// may capture by reference safely here (unlike a lambda coroutine passed on its own).
// Simplification, labelled: unlike Python's __aexit__, aexit cannot swallow the exception.
//
// A compiler pitfall, GCC 12: a lambda written inside the co_await expression whose
// captures own memory, `co_await async_with(r, [s](R&) -> Task<void> {...})` with s a
// std::string (or a vector, a unique_ptr...), is destroyed twice: GCC 12 keeps a hidden
// bitwise copy of the closure and runs the destructor on both, a double free that
// AddressSanitizer reports. The bug is in the code GCC generates for the caller, so nothing
// in this header can prevent it. Clang is not affected. Safe forms, on every compiler:
//   * capture by reference, [&] or [&s]: the body runs inside that same co_await
//     expression, so what it refers to is still alive (and it is the natural choice here);
//   * capture nothing, or only trivially destructible things (pointers, ints);
//   * name the lambda first, then pass it: `auto body = [s](R&) -> Task<void> {...};
//     co_await async_with(r, body);` (async_with copies it into its own frame).
#pragma once

#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "coop/task.hpp"

namespace coop {

template <class R>
concept AsyncResource = requires(R& r, std::exception_ptr e) {
  { r.aenter() } -> std::same_as<Task<void>>;
  { r.aexit(e) } -> std::same_as<Task<void>>;
};

namespace detail {
template <class Body, class R>
using body_result_t = typename std::invoke_result_t<Body&, R&>::value_type;
}  // namespace detail

template <AsyncResource R, class Body>
  requires std::invocable<Body&, R&>
Task<detail::body_result_t<Body, R>> async_with(R& resource, Body body) {
  using U = detail::body_result_t<Body, R>;
  co_await resource.aenter();  // throws: no body, no aexit

  std::exception_ptr error;
  [[maybe_unused]] std::conditional_t<std::is_void_v<U>, bool, std::optional<U>> result{};
  try {
    if constexpr (std::is_void_v<U>)
      co_await body(resource);
    else
      result.emplace(co_await body(resource));
  } catch (...) {
    error = std::current_exception();  // CancelledError too: aexit still runs
  }
  co_await resource.aexit(error);  // outside the handler, where co_await is allowed
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<U>) co_return std::move(*result);
}

}  // namespace coop
