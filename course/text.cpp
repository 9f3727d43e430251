// text.cpp — see text.hpp.
#include "text.hpp"

namespace course {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD, the replacement character

// The length of the valid UTF-8 sequence at s[i], or 0 when there is none (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t sequence_at(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC) n = 3;
  else if (c == 0xED) n = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_at(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (n == 1 && (c < 0x20 || c == 0x7F) && c != '\n' && c != '\t') out += ' ';
    else out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string cap_text(std::string_view s, std::size_t max_bytes, std::string_view marker) {
  // Cleaning first costs at most the input's size; cap the input first so that a 100 MB
  // output is not copied whole (every replacement is at most 3 bytes for 1).
  const bool long_input = s.size() > max_bytes;
  std::string out = clean_text(long_input ? s.substr(0, max_bytes + 3) : s);
  if (out.size() <= max_bytes && !long_input) return out;
  std::size_t cut = std::min(max_bytes, out.size());
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // back to a boundary
  out.resize(cut);
  out += marker;
  return out;
}

}  // namespace course
