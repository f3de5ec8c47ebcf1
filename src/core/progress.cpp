#include "core/progress.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "core/units.hpp"

namespace depsync {
namespace {

std::atomic<bool> g_enabled{false};

std::chrono::milliseconds start_delay() {
    static const std::chrono::milliseconds delay = [] {
        const char* env = std::getenv("DEPSYNC_PROGRESS_DELAY_MS");
        return std::chrono::milliseconds(env ? std::atol(env) : 500);
    }();
    return delay;
}

}  // namespace

void Progress::enable(bool on) {
    g_enabled = on;
}

bool Progress::enabled() {
    return g_enabled;
}

Progress::Progress(std::string what, std::uint64_t total_items, std::uint64_t total_bytes)
    : m_what(std::move(what)),
      m_total_items(total_items),
      m_total_bytes(total_bytes),
      m_start(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
    if (m_shown) draw(true);
}

void Progress::add(std::uint64_t items, std::uint64_t bytes) {
    m_items += items;
    m_bytes += bytes;
    maybe_draw();
}

void Progress::set(std::uint64_t items, std::uint64_t bytes) {
    m_items = items;
    m_bytes = bytes;
    maybe_draw();
}

void Progress::set_totals(std::uint64_t items, std::uint64_t bytes) {
    m_total_items = items;
    m_total_bytes = bytes;
}

void Progress::maybe_draw() {
    if (!g_enabled) return;
    auto now = std::chrono::steady_clock::now();
    if (now - m_start < start_delay()) return;
    if (m_shown && now - m_last_draw < std::chrono::milliseconds(200)) return;
    m_last_draw = now;
    draw(false);
}

void Progress::draw(bool final) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    std::string line = m_what + ": " + std::to_string(m_items);
    if (m_total_items) line += "/" + std::to_string(m_total_items);
    line += " files, " + human_bytes(m_bytes);
    if (m_total_bytes) line += " of " + human_bytes(m_total_bytes);
    if (seconds > 0)
        line += ", " + human_bytes(static_cast<std::uint64_t>(static_cast<double>(m_bytes) / seconds)) + "/s";
    if (final) {
        char buf[32];
        std::snprintf(buf, sizeof buf, " in %.1f s", seconds);
        line += buf;
    }
    // \r and clear-to-end-of-line redraw in place; the final draw ends the line.
    line = "\r" + line + "\033[K" + (final ? "\n" : "");
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
    m_shown = true;
}

}  // namespace depsync
