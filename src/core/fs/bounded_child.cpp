#include "core/fs/bounded_child.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/fs/child_process.hpp"

namespace depsync::fs {
namespace {

constexpr const char* report_magic = "depsync-report ";
constexpr int max_report_code = static_cast<int>(ExitCode::drift);

void write_all(int fd, const std::string& s) {
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

// A plain decimal number no larger than `max`, as std::to_string writes it; nullopt for anything else (sign,
// space, leading zero, empty, too long).
std::optional<std::size_t> parse_count(const std::string& text, std::size_t max) {
    if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    std::size_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
    return value;
}

// In the child: closes every descriptor that holds an flock (the node lock, taken by the parent). The lock
// belongs to the open file description shared with the parent; closing the child's copy does not release it,
// but keeps a child that outlives its parent from holding it.
void close_inherited_locks() {
    std::vector<int> locked;
    if (DIR* dir = ::opendir("/proc/self/fdinfo")) {
        while (const dirent* e = ::readdir(dir)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int fd = std::atoi(e->d_name);
            std::string path = std::string("/proc/self/fdinfo/") + e->d_name;
            int info = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (info < 0) continue;
            char buf[4096];
            ssize_t n = ::read(info, buf, sizeof buf - 1);
            ::close(info);
            if (n <= 0) continue;
            buf[n] = '\0';
            if (std::strstr(buf, "\nlock:") != nullptr) locked.push_back(fd);
        }
        ::closedir(dir);
    }
    for (int fd : locked) ::close(fd);
}

// In the child: the bound is on what the work adds: the address space copied from the parent (its heap,
// mapped libraries, reserved thread arenas) is not the work's doing.
void limit_memory(std::uint64_t memory_limit) {
    if (memory_limit == 0) return;
    std::uint64_t pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "re")) {
        unsigned long long vm = 0;
        if (std::fscanf(f, "%llu", &vm) == 1) pages = vm;
        std::fclose(f);
    }
    std::uint64_t base = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    rlimit limit{static_cast<rlim_t>(base + memory_limit), static_cast<rlim_t>(base + memory_limit)};
    ::setrlimit(RLIMIT_AS, &limit);
}

ChildReport failure_report(ExitCode code, const std::string& message) {
    int number = code == ExitCode::ok ? static_cast<int>(ExitCode::failure) : static_cast<int>(code);
    return {number, message.substr(0, max_report_text)};
}

// In the child: report and leave at once. _exit skips the parent's atexit handlers and static destructors,
// which belong to the parent (its lock, its loggers).
[[noreturn]] void child_main(int report_fd, const std::function<std::string()>& work) {
    ChildReport report;
    try {
        report.text = work();
        if (report.text.size() > max_report_text)
            report = failure_report(ExitCode::failure, "its result is larger than the report can carry");
    } catch (const Error& e) {
        report = failure_report(e.code(), e.what());
    } catch (const std::bad_alloc&) {
        report = failure_report(ExitCode::failure, "out of memory");
    } catch (const std::exception& e) {
        report = failure_report(ExitCode::failure, e.what());
    }
    write_all(report_fd, encode_report(report));
    ::_exit(0);
}

std::string memory_bound(std::uint64_t memory_limit, const std::string& memory_key) {
    return std::to_string(memory_limit >> 20) + " MiB" +
           (memory_key.empty() ? std::string() : ", config '" + memory_key + "'");
}

// Why no report came back: the child died, or what it sent is not a report.
Error lost_report(const std::string& what, const ChildExit& exit, bool sent_something,
                  std::uint64_t memory_limit, const std::string& memory_key) {
    if (sent_something && exit.signal == 0)
        return Error("cannot " + what + ": the transfer process sent an unreadable report");
    std::string how = exit.signal != 0 ? std::string("killed by signal ") + strsignal(exit.signal)
                                       : "exited without a report";
    if (memory_limit > 0)
        how += " (it may have reached its memory bound of " + memory_bound(memory_limit, memory_key) + ")";
    return Error("cannot " + what + ": the transfer process " + how);
}

}  // namespace

std::string encode_report(const ChildReport& report) {
    return report_magic + std::to_string(report.code) + " " + std::to_string(report.text.size()) + "\n" +
           report.text;
}

std::optional<ChildReport> decode_report(const std::string& bytes) {
    const std::string magic = report_magic;
    if (bytes.compare(0, magic.size(), magic) != 0) return std::nullopt;
    std::size_t nl = bytes.find('\n', magic.size());
    if (nl == std::string::npos) return std::nullopt;
    std::string header = bytes.substr(magic.size(), nl - magic.size());
    std::size_t space = header.find(' ');
    if (space == std::string::npos) return std::nullopt;
    auto code = parse_count(header.substr(0, space), static_cast<std::size_t>(max_report_code));
    auto length = parse_count(header.substr(space + 1), max_report_text);
    if (!code || !length || bytes.size() - nl - 1 != *length) return std::nullopt;
    return ChildReport{static_cast<int>(*code), bytes.substr(nl + 1)};
}

std::string run_bounded(const std::string& what, int timeout_seconds,
                        const std::function<std::string()>& work, std::uint64_t memory_limit,
                        const std::string& memory_key) {
    Deadline deadline = deadline_after(timeout_seconds);
    ChildProcess child = ChildProcess::fork_call([&](int report_fd) {
        close_inherited_locks();
        limit_memory(memory_limit);
        child_main(report_fd, work);
    });
    std::string bytes;
    // One byte more than a report can be, so that an oversized one is seen as such.
    const std::size_t max_bytes = max_report_text + 64;
    ChildExit exit = child.finish(&bytes, nullptr, max_bytes + 1, deadline);
    if (exit.timed_out)
        throw Error("cannot " + what + ": no answer within the timeout of " +
                    std::to_string(timeout_seconds) + " s (config 'timeout'); nothing was applied");
    std::optional<ChildReport> report = decode_report(bytes);
    if (!report) throw lost_report(what, exit, !bytes.empty(), memory_limit, memory_key);
    if (report->code == 0) return report->text;
    std::string message = report->text;
    if (memory_limit > 0 && message.find("ut of memory") != std::string::npos)
        message +=
            " (the transfer reached its memory bound of " + memory_bound(memory_limit, memory_key) + ")";
    throw Error(message, static_cast<ExitCode>(report->code));
}

}  // namespace depsync::fs
