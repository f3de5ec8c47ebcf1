#pragma once
// Progress of long work (a large publish, fetch or apply) on stderr, for an operator at a terminal.
//
// Off unless enabled (the command line enables it when stderr is a terminal and -q is not given), so cron,
// timers and pipes never see it. A line appears only once the work has lasted a moment
// (DEPSYNC_PROGRESS_DELAY_MS, default 500), is redrawn in place at most five times a second, and is ended
// with a summary when the work ends.

#include <chrono>
#include <cstdint>
#include <string>

namespace depsync {

class Progress {
  public:
    static void enable(bool on);
    static bool enabled();

    // `what`: "publish: hashing", "pull: staging"...; totals 0 when unknown.
    explicit Progress(std::string what, std::uint64_t total_items = 0, std::uint64_t total_bytes = 0);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void add(std::uint64_t items, std::uint64_t bytes);
    void set(std::uint64_t items, std::uint64_t bytes);  // absolute counts (libgit2 reports them so)
    void set_totals(std::uint64_t items, std::uint64_t bytes);

  private:
    std::string m_what;
    std::uint64_t m_items = 0, m_bytes = 0, m_total_items, m_total_bytes;
    std::chrono::steady_clock::time_point m_start, m_last_draw;
    bool m_shown = false;

    void maybe_draw();
    void draw(bool final);
};

}  // namespace depsync
