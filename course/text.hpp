// text.hpp — text that came from a program we do not trust (a grader with the student's
// code linked in), made safe to show, store and put into results.json or junit.xml.
//
// Output is cut at a byte limit, and a cut in the middle of a multi-byte character would
// leave invalid UTF-8 behind (a JSON parser rejects the whole file for it); so every cut
// here lands on a character boundary, and every string is made valid UTF-8 first.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace course {

// `s` with every byte sequence that is not valid UTF-8 (a stray continuation byte, a
// truncated or overlong sequence, a surrogate) replaced by U+FFFD, and every control
// character but newline and tab replaced by a space. NUL included.
std::string clean_text(std::string_view s);

// At most `max_bytes` of clean_text(s), cut on a character boundary; when anything was cut,
// `marker` is appended (the result may then exceed max_bytes by marker's size).
std::string cap_text(std::string_view s, std::size_t max_bytes, std::string_view marker = "\n[output truncated]");

}  // namespace course
