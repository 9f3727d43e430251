// Link-time replacements disguised from the text scan (integrity.py --object must flag each
// from the compiled object): a pasted name, a raw-string linkage, a macro for the keyword.
// Built as an object only (never linked): CTest autograde/integrity reads its symbols.
#include <cstddef>

#define PASTE(a, b) a##b
#define LINKAGE extern R"(C)"

// expect-symbol: `write`
LINKAGE long PASTE(wri, te)(int, const void*, std::size_t) { return 0; }
// expect-symbol: `memcmp`
LINKAGE int PASTE(mem, cmp)(const void*, const void*, std::size_t) { return 0; }
// expect-symbol: `main`
int main() { return 0; }
// expect-symbol: `forged_total`
LINKAGE { int forged_total = 35; }
