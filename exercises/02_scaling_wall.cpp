// Exercise 02 — scaling_wall. Replace each exercise::todo(...) with your code; the hints in
// the TODO comments get you started, `./coop run 2` grades it, `./coop hint 2` helps more.
// Read exercises/02_scaling_wall.hpp first: it says what each part must do.
#include "02_scaling_wall.hpp"

#include "exercise.hpp"

namespace ex02 {

coop::Task<std::size_t> echo(coop::TcpStream conn) {
  // TODO: loop: read_some into a buffer (a std::array<std::byte, N> in the frame); 0 bytes
  //       means the client closed: return the count. Otherwise write_all back exactly the
  //       bytes that arrived, and go round again.
  (void)conn;
  exercise::todo("echo");
  co_return 0;
}

coop::Task<std::size_t> serve_n(coop::TcpListener listener, std::size_t n) {
  // TODO: accept n connections; give each its own task (coop::create_task(echo(...))) as
  //       soon as it is accepted, keep the handles, and await them all at the end.
  (void)listener, (void)n;
  exercise::todo("serve_n");
  co_return 0;
}

coop::Task<std::size_t> serve_until(coop::TcpListener listener, coop::Event& stop) {
  // TODO: a task parked in accept() does not notice `stop`. Run the accept loop as a task of
  //       its own; wait for `stop`; then cancel() that task and await it (it ends with
  //       coop::CancelledError) before awaiting the connection tasks.
  (void)listener, (void)stop;
  exercise::todo("serve_until");
  co_return 0;
}

}  // namespace ex02
