# Turns one kernel artifact into C++: a byte array, its size and its SHA-256.
# Inputs: IN, OUT, SYMBOL.
file(READ "${IN}" hex HEX)
file(SHA256 "${IN}" digest)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "// Generated from ${IN}; do not edit.\n#include <cstddef>\n"
  "namespace zemla::kernels::data {\n"
  "extern const unsigned char ${SYMBOL}[];\n"
  "extern const std::size_t ${SYMBOL}_size;\n"
  "extern const char ${SYMBOL}_sha256[];\n"
  "alignas(16) const unsigned char ${SYMBOL}[] = {\n${bytes}0x00};\n"
  "const std::size_t ${SYMBOL}_size = ${size};\n"
  "const char ${SYMBOL}_sha256[] = \"${digest}\";\n"
  "}  // namespace zemla::kernels::data\n")
