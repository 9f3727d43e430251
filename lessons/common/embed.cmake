# embed.cmake — writes a lesson's source into a C++ file, so the lesson binary can print
# its own code wherever it runs (the narration kit's "the code" sections).
#   cmake -DIN=lessons/01_coroutines.cpp -DOUT=lesson01_source.cpp -P embed.cmake
# The text becomes a char array of hex bytes: unlike a raw string literal, no byte sequence
# in the source can end it early.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
get_filename_component(name "${IN}" NAME)
file(WRITE "${OUT}.tmp"
  "// Generated from ${name} by lessons/common/embed.cmake. Do not edit.\n"
  "#include <cstddef>\n"
  "namespace lesson::generated {\n"
  "extern const unsigned char source_text[];\n"
  "extern const std::size_t source_size;\n"
  "extern const char source_file[];\n"
  "const unsigned char source_text[] = {\n${bytes}0x00};\n"
  "const std::size_t source_size = ${size};\n"
  "const char source_file[] = \"lessons/${name}\";\n"
  "}  // namespace lesson::generated\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
