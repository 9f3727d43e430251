// lesson.cpp — the narration kit: flags, steps, the code shown, stamped output, timelines.
#include "lesson.hpp"

#include <CLI/CLI.hpp>
#include <fmt/color.h>
#include <fmt/format.h>
#include <unistd.h>

#include "coop/platform.hpp"
#if COOP_HAS_GLIBC
#include <malloc.h>  // malloc_trim
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "timeline.hpp"
#include "trace_json.hpp"

// The lesson's own source, embedded at build time (lessons/common/embed.cmake writes these
// into the lesson's binary), so `lessonNN` shows its code wherever it is run from.
namespace lesson::generated {
extern const unsigned char source_text[];
extern const std::size_t source_size;
extern const char source_file[];
}  // namespace lesson::generated

namespace lesson {

namespace {

// ---- the state of this process's one lesson ------------------------------------------------
// One lesson runs per process, so what the flags asked for, and what the current step has
// printed, live here rather than being threaded through every call (a simplification a
// library would not make; a lesson is a short program and reads better for it).
Settings g_settings;
std::string g_step_label = "run";         // "step 3": names the Chrome trace's tracks
bool g_output_header_printed = false;     // "what it printed:" comes before the first line
std::optional<ChromeTrace> g_chrome;      // with --trace-json
std::vector<coop::Diagnostic> g_diagnostics;
std::vector<coop::TraceEvent> g_trace;
bool g_run_is_virtual = false;            // the lesson::run in progress uses virtual time
bool g_step_on_real_clock = false;        // the step running is marked on_real_clock()
coop::Clock::duration g_said_at{};        // the time stamped on the last line said in a loop

// "[  0.300 s]": the loop's time since run() began. In golden mode a real-time run's times
// differ from one run to the next, so they are masked.
std::string stamp(coop::Clock::duration at) {
  if (g_settings.golden && !g_run_is_virtual) return "[   ~    ]";
  return fmt::format("[{:>9}]", format_seconds(at));
}

void out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void output_header() {
  if (g_output_header_printed) return;
  g_output_header_printed = true;
  out(fmt::format("\n  {}\n", paint("what it printed:", fmt::emphasis::bold)));
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

// Columns a UTF-8 string takes (one per code point: no wide characters in our text).
std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (const char c : s) w += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return w;
}

// Greedy word wrap, for the key point.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

struct Snippet {
  int first_line = 0;  // 1-based, in the source file
  std::vector<std::string> lines;
};

// The lines between `// snippet: NAME` and its `// end snippet`, markers left out (also
// the markers of snippets nested inside), indentation removed.
std::optional<Snippet> find_snippet(const std::string& name) {
  const std::vector<std::string> src = split_lines(std::string_view(reinterpret_cast<const char*>(generated::source_text), generated::source_size));
  const std::string start = "// snippet: " + name;
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (trim(src[i]) != start) continue;
    Snippet s;
    s.first_line = static_cast<int>(i) + 2;
    int depth = 1;
    for (std::size_t j = i + 1; j < src.size(); ++j) {
      const std::string t = trim(src[j]);
      if (t.rfind("// snippet: ", 0) == 0) {
        ++depth;
        continue;
      }
      if (t == "// end snippet") {
        if (--depth == 0) break;
        continue;
      }
      if (s.lines.empty() && t.empty()) {
        ++s.first_line;
        continue;
      }
      s.lines.push_back(src[j]);
    }
    while (!s.lines.empty() && trim(s.lines.back()).empty()) s.lines.pop_back();
    std::size_t indent = std::string::npos;
    for (const std::string& l : s.lines)
      if (!trim(l).empty()) indent = std::min(indent, l.find_first_not_of(' '));
    if (indent == std::string::npos) indent = 0;
    for (std::string& l : s.lines) l = l.size() >= indent ? l.substr(indent) : "";
    return s;
  }
  return std::nullopt;
}

// Forwards the loop's events to a TraceRecorder, times the steps on the real clock, and
// with --trace prints each event as it happens.
class LessonTracer : public coop::TraceRecorder {
 public:
  std::chrono::nanoseconds real_running{0};

  void task_spawned(coop::TaskInfo t, const coop::TaskInfo* parent) override {
    TraceRecorder::task_spawned(t, parent);
    live(t, parent ? fmt::format("spawned by '{}'", parent->name()) : std::string("spawned"));
  }
  void step_began(coop::TaskInfo t) override {
    TraceRecorder::step_began(t);
    live(t, "runs");
    began_ = std::chrono::steady_clock::now();
  }
  void step_ended(coop::TaskInfo t) override {
    real_running += std::chrono::steady_clock::now() - began_;
    TraceRecorder::step_ended(t);
  }
  void task_suspended(coop::TaskInfo t, coop::WaitInfo on) override {
    TraceRecorder::task_suspended(t, on);
    live(t, "waits on " + on.describe());
  }
  void task_woken(coop::TaskInfo t) override {
    TraceRecorder::task_woken(t);
    live(t, "woken: ready to run");
  }
  void cancel_requested(coop::TaskInfo t) override {
    TraceRecorder::cancel_requested(t);
    live(t, "cancel requested");
  }
  void task_finished(coop::TaskInfo t, coop::Outcome how) override {
    TraceRecorder::task_finished(t, how);
    live(t, fmt::format("finished: {}", coop::to_string(how)));
  }

 private:
  void live(coop::TaskInfo t, const std::string& what) const {
    if (!g_settings.live_trace) return;
    output_header();
    out(paint(fmt::format("    ⋯ {} {}: {}\n", stamp(elapsed()), t.name(), what), styles::dim));
  }
  std::chrono::steady_clock::time_point began_{};
};

}  // namespace

const Settings& settings() { return g_settings; }

std::string paint(std::string_view text, fmt::text_style style) {
  return g_settings.color ? fmt::format(style, "{}", text) : std::string(text);
}

coop::Clock::duration elapsed() { return coop::elapsed(); }

std::string secs(coop::Clock::duration d) { return format_seconds(d); }

std::optional<std::size_t> resident_anon_bytes() {
#if COOP_HAS_GLIBC
  ::malloc_trim(0);
#endif
#if COOP_HAS_PROC_FS
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8)) * 1024;  // the kernel writes kB: KiB
#endif
  return std::nullopt;
}

void say_line(std::string text) {
  output_header();
  if (coop::loop_running()) {
    g_said_at = elapsed();
    out(fmt::format("    {} {}\n", paint(stamp(g_said_at), styles::time), text));
  } else
    out(fmt::format("    {}\n", text));
}

coop::Clock::duration said_at() { return g_said_at; }

void conclude_line(std::string text) {
  output_header();
  out(fmt::format("    {} {}\n", paint("→", styles::figure), text));
}

std::string measured(std::string text) {
  if (g_settings.golden) return "<measured>";
  return paint(text, styles::figure);
}

std::string figure(std::string text) { return paint(text, styles::figure); }

const std::vector<coop::Diagnostic>& last_diagnostics() { return g_diagnostics; }
const std::vector<coop::TraceEvent>& last_trace() { return g_trace; }

// ---- RunScope ---------------------------------------------------------------------------------

struct RunScope::Impl {
  RunSettings settings;
  LessonTracer tracer;
};

RunScope::RunScope(RunSettings s) : impl_(std::make_unique<Impl>()) {
  impl_->settings = std::move(s);
  g_diagnostics.clear();
  g_trace.clear();
}

coop::RunOptions RunScope::options() {
  coop::RunOptions o;
  o.virtual_time = g_settings.virtual_time && !impl_->settings.real_time;
  // The banner said which steps run on the real clock; a step that does so unannounced
  // would make it wrong.
  if (g_settings.virtual_time && !o.virtual_time && !g_step_on_real_clock)
    throw std::logic_error(fmt::format("lesson bug: {} runs on the real clock (RunSettings::real_time) but is not "
                                       "marked with on_real_clock(), so the banner said its times are virtual",
                                       g_step_label));
  g_run_is_virtual = o.virtual_time;
  o.slow_step_warning = impl_->settings.slow_step_warning;
  if (impl_->settings.trace) o.tracer = &impl_->tracer;
  o.on_diagnostic = [](const coop::Diagnostic& d) {
    g_diagnostics.push_back(d);
    output_header();
    out(fmt::format("    {} {}\n", paint("⚠ coop warning:", styles::warning), d.message));
  };
  return o;
}

RunScope::~RunScope() {
  try {
    g_trace = impl_->tracer.events();
    if (g_chrome) g_chrome->add_run(g_step_label, g_trace, coop::Clock::duration::zero());
    if (g_settings.timeline && impl_->settings.timeline && !g_trace.empty() && g_settings.golden && !g_run_is_virtual) {
      out("\n  (timeline of a real-time run: not shown in golden mode, its shape differs run to run)\n");
    } else if (g_settings.timeline && impl_->settings.timeline && !g_trace.empty()) {
      TimelineStyle st;
      st.color = g_settings.color;
      st.title = impl_->settings.title;
      const auto real = std::chrono::duration_cast<std::chrono::microseconds>(impl_->tracer.real_running);
      st.real_running = g_settings.golden ? "<measured> (real)" : fmt::format("{} µs (real)", real.count());
      out("\n" + render_timeline(g_trace, coop::Clock::duration::zero(), st));
    }
  } catch (...) {
    // A destructor must not throw; the timeline is a nicety.
  }
}

// ---- Lesson -----------------------------------------------------------------------------------

struct Lesson::Impl {
  Meta meta;
  CLI::App app;
  struct Step {
    std::string title, text;
    std::vector<std::string> snippets;
    std::function<void()> body;
    std::string real_clock;  // on_real_clock(): what makes it real ("real threads"); "" = the loop's clock
  };
  std::vector<Step> steps;
  std::string wrap_up;
  // Flags.
  bool step_flag = false, list = false, no_color = false;
  int only = 0;

  explicit Impl(Meta m) : meta(std::move(m)), app(fmt::format("lesson {:02} · {}", meta.number, meta.title)) {}
  std::string prog() const { return fmt::format("lesson{:02}", meta.number); }
};

namespace {

// "1, 2 and 5"
std::string and_list(const std::vector<std::string>& items) {
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i)
    s += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return s;
}

// The banner's word on time: real, or virtual, and then which steps (of those that will
// run) are on the real clock all the same, and what makes them so.
std::string clock_note(const std::vector<std::string>& real_clock, int only) {
  if (!g_settings.virtual_time) return "times are real, measured in this run";
  std::vector<std::string> numbers, whats;
  std::size_t running = 0;
  for (std::size_t i = 0; i < real_clock.size(); ++i) {
    if (only != 0 && static_cast<std::size_t>(only) != i + 1) continue;
    ++running;
    if (real_clock[i].empty()) continue;
    numbers.push_back(std::to_string(i + 1));
    if (std::find(whats.begin(), whats.end(), real_clock[i]) == whats.end()) whats.push_back(real_clock[i]);
  }
  if (numbers.empty()) return "times are virtual: exact, nothing waited for real";
  if (numbers.size() == running)
    return fmt::format("--virtual-time changes nothing here: {} {} on the real clock, so times are real, "
                       "measured in this run",
                       running == 1 ? "this step runs" : "every step runs", and_list(whats));
  return fmt::format("times are virtual (exact, nothing waited for real), except in step{} {}, which run{} {} on "
                     "the real clock",
                     numbers.size() == 1 ? "" : "s", and_list(numbers), numbers.size() == 1 ? "s" : "",
                     and_list(whats));
}

}  // namespace

Lesson::Lesson(Meta meta) : impl_(std::make_unique<Impl>(std::move(meta))) {
  CLI::App& app = impl_->app;
  app.name(impl_->prog());
  app.add_flag("--step", impl_->step_flag, "Wait for Enter between steps (only when stdin is a terminal)");
  app.add_flag("--virtual-time", g_settings.virtual_time,
               "Instant and exact: time leaps from timer to timer (real threads still take real time)");
  app.add_flag("--trace", g_settings.live_trace, "Print every scheduler event as it happens");
  app.add_flag("--timeline,!--no-timeline", g_settings.timeline, "Draw a timeline after each concurrent step (default on)");
  app.add_option("--trace-json", g_settings.trace_json,
                 "Write the scheduler's events to FILE (Chrome Trace Event Format; open in ui.perfetto.dev)")
      ->type_name("FILE");
  app.add_flag("--list", impl_->list, "List the steps and exit");
  app.add_option("--only", impl_->only, "Run only step N")->type_name("N");
  app.add_flag("--no-color", impl_->no_color, "No colour (also when NO_COLOR is set or stdout is not a terminal)");
}

Lesson::~Lesson() = default;

CLI::App& Lesson::flags() { return impl_->app; }

void Lesson::step(std::string title, std::string text, std::vector<std::string> snippets, std::function<void()> body) {
  impl_->steps.push_back({std::move(title), std::move(text), std::move(snippets), std::move(body), ""});
}

void Lesson::on_real_clock(std::string what) {
  if (impl_->steps.empty()) throw std::logic_error("lesson bug: on_real_clock() before any step");
  impl_->steps.back().real_clock = std::move(what);
}

void Lesson::wrap_up(std::string text) { impl_->wrap_up = std::move(text); }

int Lesson::main(int argc, char** argv) {
  Impl& m = *impl_;
  const std::string prog = m.prog();
  try {
    m.app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return m.app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", prog.c_str(), e.what(), prog.c_str());
    return 2;
  }
  const int n = static_cast<int>(m.steps.size());
  if (m.app.count("--only") > 0 && (m.only < 1 || m.only > n)) {
    std::fprintf(stderr, "%s: --only %d: there is no such step; this lesson has steps 1 to %d (see --list)\n",
                 prog.c_str(), m.only, n);
    return 2;
  }
  const char* no_color = std::getenv("NO_COLOR");
  g_settings.color = !m.no_color && (no_color == nullptr || *no_color == '\0') && ::isatty(STDOUT_FILENO);
  const char* golden = std::getenv("COOP_LESSON_GOLDEN");
  g_settings.golden = golden != nullptr && std::string(golden) == "1";
  g_settings.pause = m.step_flag && ::isatty(STDIN_FILENO);
  if (!g_settings.trace_json.empty()) {
    std::ofstream probe(g_settings.trace_json);
    if (!probe) {
      std::fprintf(stderr, "%s: --trace-json %s: cannot write that file\n", prog.c_str(), g_settings.trace_json.c_str());
      return 2;
    }
    g_chrome.emplace(fmt::format("lesson {:02} · {}", m.meta.number, m.meta.slug));
  }

  // A snippet name that does not match the source is a bug in the lesson: say so at once.
  for (const auto& s : m.steps)
    for (const std::string& name : s.snippets)
      if (!find_snippet(name)) {
        std::fprintf(stderr, "%s: lesson bug: no '// snippet: %s' in %s\n", prog.c_str(), name.c_str(),
                     generated::source_file);
        return 1;
      }

  const std::string banner = fmt::format("Lesson {:02} · {}", m.meta.number, m.meta.title);
  if (m.list) {
    out(banner + "\n");
    for (int i = 0; i < n; ++i) out(fmt::format("  {}. {}\n", i + 1, m.steps[static_cast<std::size_t>(i)].title));
    return 0;
  }

  out(paint(banner, styles::heading) + "\n");
  for (const std::string& l : wrap(m.meta.key_point, 88)) out("  " + paint(l, fmt::emphasis::italic) + "\n");
  std::vector<std::string> real_clock;
  for (const auto& s : m.steps) real_clock.push_back(s.real_clock);
  out(paint(fmt::format("  ({}; {}. --help for the flags.)\n", generated::source_file, clock_note(real_clock, m.only)),
            styles::dim));

  for (int i = 0; i < n; ++i) {
    if (m.only != 0 && m.only != i + 1) continue;
    const auto& s = m.steps[static_cast<std::size_t>(i)];
    g_step_label = fmt::format("step {}", i + 1);
    g_step_on_real_clock = !s.real_clock.empty();
    g_output_header_printed = false;
    std::string head = fmt::format("━━ Step {} of {} · {} ", i + 1, n, s.title);
    for (std::size_t w = display_width(head); w < 88; ++w) head += "━";
    out("\n" + paint(head, styles::heading) + "\n");
    for (const std::string& l : split_lines(s.text)) out("  " + l + "\n");
    for (const std::string& name : s.snippets) {
      const Snippet sn = *find_snippet(name);
      out(fmt::format("\n  {}\n", paint(fmt::format("the code ({}:{}):", generated::source_file, sn.first_line),
                                        fmt::emphasis::bold)));
      int line = sn.first_line;
      for (const std::string& l : sn.lines)
        out(fmt::format("    {} {}\n", paint(fmt::format("{:>4} │", line++), styles::dim), paint(l, styles::code)));
    }
    try {
      s.body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: step %d failed: %s\n", prog.c_str(), i + 1, e.what());
      return 1;
    } catch (const coop::CancelledError&) {
      std::fprintf(stderr, "%s: step %d failed: it was cancelled\n", prog.c_str(), i + 1);
      return 1;
    }
    if (g_settings.pause && i + 1 < n && m.only == 0) {
      out(paint(fmt::format("\n  [Enter] for step {} ", i + 2), styles::dim));
      std::string ignored;
      if (!std::getline(std::cin, ignored)) g_settings.pause = false;
    }
  }
  if (m.only == 0 && !m.wrap_up.empty()) {
    out("\n" + paint("━━ What you saw", styles::heading) + "\n");
    for (const std::string& l : split_lines(m.wrap_up)) out("  " + l + "\n");
  }
  if (g_chrome) {
    std::ofstream f(g_settings.trace_json);
    f << g_chrome->json();
    if (!f) {
      std::fprintf(stderr, "%s: --trace-json %s: write failed\n", prog.c_str(), g_settings.trace_json.c_str());
      return 1;
    }
    out(paint(fmt::format("\n  trace written to {} (open it in ui.perfetto.dev)\n", g_settings.trace_json), styles::dim));
  }
  return 0;
}

}  // namespace lesson
