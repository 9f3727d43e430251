#!/usr/bin/env python3
"""integrity.py — flags what an exercise never needs, in a submitted exercise file.

A student's code is linked into the grader and runs first, so native code can always try
to forge, hide or break something; no autograder for C++ can stop that alone. What it can
do is notice: an answer to these exercises is coroutines, the coop runtime and the
standard library, and never needs to fork, signal, exit, touch descriptors or files, leave
C++ linkage, write assembly, define things in the grader's or the runtime's namespaces,
include anything but its own header, or redefine the language with the preprocessor.
Each such construct is printed as `file:line: construct`, one a line, for
`coop_grade --integrity FILE`, which turns them into a failing entry only the instructor
sees. A hit is a reason to read the submission, not a verdict.

Comments and string literals are removed before matching, so a comment or a message that
says "fork" is not a hit. It is a scanner, not a compiler: it errs towards flagging.

The text can be disguised (a macro that pastes `wri` and `te` together, a raw-string
linkage); the compiled object cannot. So the object file built from the submission is
checked too (--object): every symbol it defines for the rest of the program is listed with
nm, and flagged when it could replace part of the grader at link time: a name of C linkage
(write, memcmp, main: it would stand in for the C library's or the grader's own), the global
operator new or delete, a non-inline definition in std or coop (the runtime's own
functions), or anything at all in the grader's namespaces (grading, course, CLI, doctest).

    integrity.py FILE...                 scan; exit 0 whether or not anything was found
    integrity.py --name NAME FILE        print NAME instead of FILE in the hits
    integrity.py --name NAME --object OBJ
                                         the symbols the compiled OBJ defines, as hits on NAME
    integrity.py --self-test DIR         the fixtures in DIR (tests/grading/attacks/integrity/)
    integrity.py --object-test SOURCES OBJ...
                                         objects of SOURCES/x.cpp, each of which says
                                         `// expect-symbol: TEXT` for each hit it must give
                                         (none: no hit at all)
"""
import os
import re
import subprocess
import sys

# Calls that start, signal, stop or replace processes, end the program, or reach
# descriptors, files, the environment or the dynamic linker. Matched as a call or a
# reference (`kill(`, `&kill`, `::kill`, `std::exit`), never as a member (`stream.close()`).
CALLS = {
    "process": "fork vfork clone execl execlp execle execv execvp execvpe execve fexecve posix_spawn posix_spawnp "
    "system popen pclose wait waitpid wait3 wait4 waitid daemon",
    "signal": "kill killpg raise signal sigaction sigprocmask pthread_sigmask sigqueue alarm setitimer "
    "pause sigsuspend tgkill tkill",
    "process group": "setsid setpgid setpgrp getpgrp tcsetpgrp",
    "exit": "_exit _Exit exit quick_exit abort atexit at_quick_exit terminate set_terminate longjmp "
    "setjmp siglongjmp sigsetjmp",
    "descriptor": "write pwrite writev pwritev read pread readv open openat creat close dup dup2 dup3 pipe pipe2 "
    "fcntl ioctl socket socketpair connect bind mmap mprotect munmap sendfile splice",
    "file": "fopen freopen fdopen fputs fwrite remove rename unlink unlinkat chmod chown truncate ftruncate "
    "mkfifo symlink link ofstream fstream ifstream filebuf filesystem",
    "environment": "getenv setenv putenv unsetenv environ secure_getenv prctl ptrace personality setrlimit "
    "prlimit chdir chroot",
    "dynamic linking": "dlopen dlsym dlmopen syscall",
}
CALL_KIND = {name: kind for kind, names in CALLS.items() for name in names.split()}
# Names that are common member functions or algorithms: flagged only when called unqualified
# or through std:: / :: (std::remove is an algorithm, so it is left out entirely above).
CALL_RE = re.compile(r"(?<![\w.>$])((?:::\s*|std\s*::\s*)?)(" + "|".join(sorted(CALL_KIND, key=len, reverse=True)) + r")\b")

KEYWORDS = set("""alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await co_return
co_yield decltype default delete do double dynamic_cast else enum explicit export extern false float for
friend goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
protected public register reinterpret_cast requires return short signed sizeof static static_assert
static_cast struct switch template this thread_local throw true try typedef typeid typename union unsigned
using virtual void volatile wchar_t while xor xor_eq final override import module""".split())
# What the graders and the runtime are built from: redefining one changes their meaning.
GRADING_MACROS = set("""check check_eq fail grading coop exercise todo main run gather sleep NDEBUG assert
COOP_PORTABLE COOP_SOURCE_DIR FMT_HEADER_ONLY""".split())
FORBIDDEN_NAMESPACES = ("grading", "coop", "std", "exercise", "fmt", "CLI", "doctest", "__gnu_cxx", "__cxxabiv1")

STANDARD_HEADERS = set("""algorithm any array atomic barrier bit bitset cassert ccomplex cctype cerrno cfenv
cfloat charconv chrono cinttypes ciso646 climits clocale cmath codecvt compare complex concepts
condition_variable coroutine csetjmp csignal cstdalign cstdarg cstdbool cstddef cstdint cstdio cstdlib
cstring ctgmath ctime cuchar cwchar cwctype deque exception execution expected filesystem format
forward_list fstream functional future generator initializer_list iomanip ios iosfwd iostream istream
iterator latch limits list locale map memory memory_resource mutex new numbers numeric optional ostream
print queue random ranges ratio regex scoped_allocator semaphore set shared_mutex source_location span
spanstream sstream stack stacktrace stdexcept stop_token streambuf string string_view strstream
syncstream system_error thread tuple type_traits typeindex typeinfo unordered_map unordered_set utility
valarray variant vector version""".split())
# A standard header that is one only in name: what it brings is what the exercise never needs.
STANDARD_BUT_FLAGGED = {"csignal", "csetjmp", "filesystem", "fstream"}
# Words after which a name followed by ( is a call, not the name of a declaration.
EXPRESSION_WORDS = r"\b(return|co_return|co_await|co_yield|throw|else|do|case|new|delete|and|or|not|sizeof|decltype)"
ALLOWED_DIRECTIVES = {"include", "define", "undef", "if", "ifdef", "ifndef", "elif", "elifdef", "elifndef",
                      "else", "endif", "error", "warning"}


def blank(text):
    """The same text with every character but a newline turned into a space."""
    return re.sub(r"[^\n]", " ", text)


def strip(source, keep_strings):
    """Removes comments (and, unless keep_strings, the contents of string and character
    literals), keeping every newline, so line numbers stay right. Raw strings, escapes,
    digit separators (1'000) and line splices in comments are handled."""
    out = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            j = i
            while j < n and source[j] != "\n":
                j += 2 if source.startswith("\\\n", j) else 1
            out.append(blank(source[i:j]))
            i = j
        elif source.startswith("/*", i):
            j = source.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " + blank(source[i + 1:j]))
            i = j
        elif c == "R" and re.match(r'R"([^ ()\\\t\n]{0,16})\(', source[i:]) and not re.match(r"\w", source[i - 1:i] or " "):
            delim = re.match(r'R"([^ ()\\\t\n]{0,16})\(', source[i:]).group(1)
            end = source.find(")" + delim + '"', i)
            j = n if end < 0 else end + len(delim) + 2
            out.append(source[i:j] if keep_strings else 'R""' + blank(source[i + 3:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and re.match(r"[0-9A-Fa-f]", source[i - 1]) and re.match(r"\w", source[i + 1:i + 2] or " "):
                # A digit separator (1'000'000), unless it starts a literal after a prefix (u8'a').
                prefix = re.search(r"(\w+)$", source[:i]).group(1)
                if prefix[0].isdigit():
                    out.append(c)
                    i += 1
                    continue
            j = i + 1
            while j < n and source[j] != c and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(source[i:j] if keep_strings else c + blank(source[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def logical_lines(text):
    """(first line number, joined text) of each line, with backslash-newline splices joined:
    a directive split over lines is one directive."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start, joined = i + 1, lines[i]
        while joined.endswith("\\") and i + 1 < len(lines):
            i += 1
            joined = joined[:-1] + lines[i]
        yield start, joined
        i += 1


def check_include(target, own_header):
    """None when the include is allowed, else why not."""
    quoted = target.startswith('"')
    name = target[1:-1].strip()
    if ".." in name.split("/") or name.startswith("/") or "\\" in name:
        return "outside the exercise"
    if quoted:
        return None if name in (own_header, "exercise.hpp") else "not the exercise's own header"
    if name.startswith("coop/") and name.endswith(".hpp") and re.fullmatch(r"[\w/.]+", name):
        return None
    if name in STANDARD_HEADERS:
        return "brings what an exercise never needs" if name in STANDARD_BUT_FLAGGED else None
    return "not a standard or coop header"


def definition_scope_hits(code):
    """Definitions at namespace scope whose name is qualified by a namespace an exercise
    must not define into (`coop::Clock::time_point coop::now() { ... }`, `void
    grading::fail(...)`). Walks braces, tracking which are namespace (or extern) bodies; at
    namespace scope, a declaration's declarator-id is the first name followed by ( [ = or {
    outside brackets and template arguments."""
    hits = []
    tokens = [(m.group(), m.start()) for m in re.finditer(r"::|[A-Za-z_~]\w*|\d[\w.']*|\S", code)]
    stack = []  # per open brace: is it a namespace's (or extern "C"'s) body?
    chunk = []  # (token, position) of the declaration being read at namespace scope
    for tok, pos in tokens:
        at_namespace_scope = all(stack)
        if tok in ("{", ";"):
            if at_namespace_scope:
                check_chunk(chunk, hits, code)
            if tok == "{":
                linkage_block = bool(chunk) and chunk[0][0] == "extern" and all(t == '"' for t, _ in chunk[1:])
                stack.append(at_namespace_scope and bool(chunk) and (chunk[0][0] == "namespace" or linkage_block))
            chunk = []
        elif tok == "}":
            if stack:
                stack.pop()
            chunk = []
        elif at_namespace_scope:
            chunk.append((tok, pos))
    return hits


def check_chunk(chunk, hits, code):
    words = [t for t, _ in chunk]
    if not words or words[0] in ("namespace", "using", "static_assert", "typedef", "friend", "extern"):
        return
    # A class, struct or union defined with a qualified name: `struct std::hash<T> { ... }`.
    for k, word in enumerate(words[:-1]):
        if word in ("class", "struct", "union") and words[k + 1] in FORBIDDEN_NAMESPACES and words[k + 2:k + 3] == ["::"]:
            hits.append((line_of(code, chunk[k + 1][1]), f"definition of {words[k + 1]}::{words[k + 3]}"))
            return
    paren = angle = 0
    i = 0
    while i + 1 < len(words) and words[i] == "[" and words[i + 1] == "[":  # [[attributes]]
        i = words.index("]", i) + 2 if "]" in words[i:] else len(words)
    while i < len(words):
        tok = words[i]
        if tok in ("(", "["):
            if paren == 0 and angle == 0:
                break
            paren += 1
        elif tok in (")", "]"):
            paren -= 1
        elif tok == "<" and paren == 0 and i > 0 and re.match(r"\w", words[i - 1]):
            angle += 1
        elif tok == ">" and angle > 0:
            angle -= 1
        elif tok == "=" and paren == 0 and angle == 0:
            break
        i += 1
    # The qualified name that ends just before position i.
    j = i - 1
    names = []
    while j >= 0 and re.match(r"[A-Za-z_~]\w*$", words[j]):
        names.insert(0, words[j])
        if j >= 2 and words[j - 1] == "::" and re.match(r"[A-Za-z_]\w*$", words[j - 2]):
            j -= 2
        else:
            break
    if len(names) >= 2 and names[0] in FORBIDDEN_NAMESPACES:
        hits.append((line_of(code, chunk[j][1]), "definition of " + "::".join(names)))


def scan(source, own_header):
    """Every hit in one file: a sorted list of (line, construct)."""
    hits = []
    if "\0" in source:
        return [(1, "binary content")]
    with_strings = strip(source, keep_strings=True)
    code = strip(source, keep_strings=False)
    # Preprocessor directives (also written with the %: digraph), on the comment-free text.
    for number, line in logical_lines(with_strings):
        m = re.match(r"\s*(?:#|%:)\s*(\w*)(.*)", line)
        if not m:
            continue
        directive, rest = m.group(1), m.group(2).strip()
        if directive == "include":
            target = re.match(r'("[^"]*"|<[^>]*>)', rest)
            if not target:
                hits.append((number, f"#include {rest[:60]} (computed)"))
            else:
                why = check_include(target.group(1), own_header)
                if why:
                    hits.append((number, f"#include {target.group(1)} ({why})"))
        elif directive in ("define", "undef"):
            name = re.match(r"(\w*)", rest).group(1)
            if name in KEYWORDS or name in GRADING_MACROS or name.startswith("__") or re.match(r"_[A-Z]", name):
                hits.append((number, f"#{directive} {name}"))
            elif directive == "define" and "#" in strip(rest, keep_strings=False):
                hits.append((number, f"#define {name} with # or ## (builds names the scanner cannot see)"))
        elif directive == "pragma":
            hits.append((number, "#pragma"))
        elif directive not in ALLOWED_DIRECTIVES:
            hits.append((number, f"#{directive}"))
    # The rest, on the text without comments, strings or directives.
    code_lines = code.split("\n")
    for number, line in logical_lines(code):
        if re.match(r"\s*(?:#|%:)", line):
            code_lines[number - 1] = ""
        elif code_lines[number - 1].endswith("\\"):
            # Outside a directive a splice has no use but to join what the scanner reads
            # line by line (wri\<newline>te is write to the compiler).
            hits.append((number, "a line splice (\\ at the end of a line) outside a directive"))
    body = "\n".join(code_lines)
    linkage = with_strings_without_directives(with_strings)
    for m in re.finditer(r'\bextern\s*(?:u8|u|U|L)?R?"', linkage):
        hits.append((line_of(linkage, m.start()), 'extern "C"'))
    for m in re.finditer(r"\b(asm|__asm__|__asm|__attribute__|__attribute|__declspec|_Pragma|__builtin_trap|"
                         r"__builtin_frame_address|__builtin_return_address|__builtin_longjmp|__builtin_setjmp)\b", body):
        hits.append((line_of(body, m.start()), m.group(1)))
    # Names reserved for the implementation (__write, __builtin_exit, __fork...): libc's
    # aliases and the compiler's builtins reach what the list above names by other names.
    for m in re.finditer(r"(?<![\w$])(__\w+)", body):
        if m.group(1) not in ("__func__", "__FILE__", "__LINE__", "__cplusplus", "__PRETTY_FUNCTION__"):
            hits.append((line_of(body, m.start()), f"{m.group(1)} (a name reserved for the implementation)"))
    for m in re.finditer(r"\[\[\s*(?:using\s+)?(gnu|clang)\s*[:\]]", body):
        hits.append((line_of(body, m.start()), f"[[{m.group(1)}::...]] attribute"))
    # Definitions only: `using namespace std::chrono_literals;` is an ordinary answer's line.
    for m in re.finditer(r"\bnamespace\s+(?:::\s*)?(\w+)", body):
        if m.group(1) in FORBIDDEN_NAMESPACES and not re.search(r"\busing\s*$", body[:m.start()]):
            hits.append((line_of(body, m.start()), f"namespace {m.group(1)}"))
    for m in CALL_RE.finditer(body):
        qualifier, name = m.group(1), m.group(2)
        before = body[:m.start()].rstrip()
        if before.endswith("::") and not qualifier:
            continue  # some_class::name: not the global one
        after = body[m.end():].lstrip()
        if CALL_KIND[name] in ("file",) and name in ("ofstream", "fstream", "ifstream", "filebuf", "filesystem"):
            pass  # the type's mere use is the hit
        elif not (after.startswith("(") or before.endswith("&") or qualifier):
            continue  # a name, not a call: a variable called `signal`, a parameter `close`
        elif not qualifier and after.startswith("(") and re.search(r"[\w>*&]$", before) and not re.search(EXPRESSION_WORDS + "$", before):
            continue  # a declaration of the exercise's own (`void close() {}` in a class)
        hits.append((line_of(body, m.start()), f"{name}() ({CALL_KIND[name]})" if name not in
                     ("ofstream", "fstream", "ifstream", "filebuf", "filesystem") else f"std::{name} (file)"))
    hits += definition_scope_hits(body)
    return sorted(set(hits))


def with_strings_without_directives(text):
    lines = text.split("\n")
    return "\n".join("" if re.match(r"\s*(?:#|%:)", line) else line for line in lines)


def own_header_of(path):
    base = os.path.basename(path)
    return base[:-4] + ".hpp" if base.endswith(".cpp") else base


def scan_file(path, name=None):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    return [f"{name or path}:{line}: {what}" for line, what in scan(text, own_header_of(name or path))]


# ---- the compiled object ----------------------------------------------------------------------

# Defined for the rest of the program and strong: a second definition elsewhere is an error
# or, in an archive, is not pulled in, so this one is used (nm's letters; weak ones are W, V, u).
STRONG = set("TDBRGSCi")
# Namespaces the grader is made of: nothing in them comes from an exercise's headers.
GRADER_NAMESPACES = {"grading", "course", "CLI", "doctest"}
# The runtime's and the standard library's: their templates and inline functions are
# instantiated in every object (weak), but a strong definition replaces theirs.
LIBRARY_NAMESPACES = {"std", "coop", "fmt", "__gnu_cxx", "__cxxabiv1"}
ALLOCATION = {"nw": "operator new", "na": "operator new[]", "dl": "operator delete", "da": "operator delete[]"}


def outer_name(mangled):
    """The outermost name of an Itanium-mangled symbol: its namespace, class or function at
    global scope ("std", "coop", "ex03", "helper"), or "op:xx" for a global operator."""
    s = mangled[2:]
    special = re.match(r"(?:T[VISTHW]|G[VR]|TC)", s)
    if special:
        s = s[special.end():]
    thunk = re.match(r"Th(n?\d+)_|Tv(n?\d+)_(n?\d+)_|Tc", s)
    if thunk:
        s = s[thunk.end():]
    if s.startswith("Z"):  # a local entity: the function it is in comes first
        s = s[1:]
    if s.startswith("N"):
        s = s[1:].lstrip("rVKRO")
    if s[:2] == "St" or s[:2] in ("Sa", "Sb", "Ss", "Si", "So", "Sd"):
        return "std"
    if s.startswith("L"):
        s = s[1:]
    m = re.match(r"(\d+)", s)
    if m:
        n = int(m.group(1))
        return s[m.end():m.end() + n]
    return "op:" + s[:2]


def demangled(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
        lines = out.split("\n")
        if len(lines) >= len(names):
            return lines[:len(names)]
    except (OSError, subprocess.CalledProcessError):
        pass
    return list(names)


def defined_symbols(obj):
    """(name, nm's letter) for every global symbol obj defines."""
    out = subprocess.run(["nm", "-g", "--defined-only", "-P", obj], capture_output=True, text=True)
    if out.returncode != 0:
        raise OSError(0, out.stderr.strip() or f"nm failed on {obj}")
    return [tuple(line.split()[:2]) for line in out.stdout.splitlines() if len(line.split()) >= 2]


def scan_object(obj):
    """What obj defines that could replace part of the grader: a list of sentences."""
    found = []
    for name, kind in defined_symbols(obj):
        if not name.startswith("_Z"):
            if name.startswith("DW.ref."):  # the compiler's own pointer to a type for unwinding
                continue
            if name == "__clang_call_terminate" and kind == "W":  # Clang's own, in every object that may terminate
                continue
            if name.startswith("__odr_asan"):  # AddressSanitizer's own marker beside each global
                continue
            found.append((name, f"defines `{name}` with C linkage: it stands in for the C library's or the grader's own"))
            continue
        outer = outer_name(name)
        if outer.startswith("op:") and outer[3:] in ALLOCATION and kind in STRONG:
            # (a replacement is a strong definition; the library's inline forms, placement new
            # among them, are weak copies an unoptimised build emits)
            found.append((name, f"replaces the global {ALLOCATION[outer[3:]]}"))
        elif outer in GRADER_NAMESPACES:
            found.append((name, f"defines something in the grader's namespace {outer}"))
        elif outer in LIBRARY_NAMESPACES and kind in STRONG:
            found.append((name, f"defines a function of {outer} itself (not an instantiation of its templates)"))
    if not found:
        return []
    readable = demangled([name for name, _ in found])
    return [what if not name.startswith("_Z") else f"{what}: {shown}" for (name, what), shown in zip(found, readable)]


def object_test(objects, sources):
    """Each object's source lists `// expect-symbol: TEXT` for every hit it must give (a
    substring of it); a source with none must give no hit."""
    failures = 0
    for obj, source in zip(objects, sources):
        with open(source, encoding="utf-8") as f:
            expected = re.findall(r"//\s*expect-symbol:\s*(.+?)\s*$", f.read(), re.M)
        hits = scan_object(obj)
        for what in expected:
            if not any(what in h for h in hits):
                print(f"{os.path.basename(source)}: expected a hit '{what}', got {hits}")
                failures += 1
        for h in hits:
            if not any(what in h for what in expected):
                print(f"{os.path.basename(source)}: unexpected hit '{h}'")
                failures += 1
    print(f"integrity object test: {len(objects)} objects, {failures} problems")
    return 1 if failures or not objects else 0


def self_test(directory):
    """Each fixture says what it must produce: `// expect: construct` lines (a substring
    of a hit on the line after the marker, or `// expect-none` for a file with no hit)."""
    failures = 0
    count = 0
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if not entry.endswith(".cpp"):
            continue
        count += 1
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        expected = []
        for i, line in enumerate(lines):
            m = re.search(r"//\s*expect:\s*(.+)$", line)
            if m:
                expected.append((i + 2, m.group(1).strip()))
        hits = scan("\n".join(lines), own_header_of(entry))
        for line, what in expected:
            if not any(h_line == line and what in h_what for h_line, h_what in hits):
                print(f"{entry}:{line}: expected a hit '{what}', got: {[h for h in hits if h[0] == line]}")
                failures += 1
        for h_line, h_what in hits:
            if not any(line == h_line for line, _ in expected):
                print(f"{entry}:{h_line}: unexpected hit '{h_what}'")
                failures += 1
    print(f"integrity self-test: {count} fixtures, {failures} problems")
    return 1 if failures or count == 0 else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--self-test":
        return self_test(argv[1])
    if len(argv) >= 2 and argv[0] == "--object-test":
        # SOURCES OBJ...: each object's source is the file of its name in SOURCES (x.cpp.o or x.o: x.cpp)
        sources = [os.path.join(argv[1], re.sub(r"(\.cpp)?\.o(bj)?$", "", os.path.basename(o)) + ".cpp") for o in argv[2:]]
        return object_test(argv[2:], sources)
    name = None
    if len(argv) >= 2 and argv[0] == "--name":
        name, argv = argv[1], argv[2:]
    if len(argv) == 2 and argv[0] == "--object":
        try:
            for hit in scan_object(argv[1]):
                print(f"{name or argv[1]}: {hit}")
        except OSError as e:
            print(f"integrity.py: cannot list the symbols of {argv[1]}: {e.strerror}", file=sys.stderr)
            return 2
        return 0
    if not argv:
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    for path in argv:
        try:
            for hit in scan_file(path, name):
                print(hit)
        except OSError as e:
            print(f"integrity.py: cannot read {path}: {e.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
