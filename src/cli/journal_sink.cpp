#include "cli/journal_sink.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/audit.hpp"

namespace depsync::cli {
namespace {

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::vector<std::string> fields;
        fields.push_back("MESSAGE=" + printable(std::string(msg.payload.data(), msg.payload.size())));
        fields.push_back("PRIORITY=" + std::to_string(journal_priority(static_cast<int>(msg.level))));
        fields.push_back("SYSLOG_IDENTIFIER=depsync");
        if (const sync::AuditEvent* event = sync::current_audit_event()) {
            fields.push_back("DEPSYNC_ACTION=" + event->action);
            if (event->release) fields.push_back("DEPSYNC_RELEASE=" + std::to_string(*event->release));
            if (event->commit) fields.push_back("DEPSYNC_COMMIT=" + git::to_hex(*event->commit));
            fields.push_back("DEPSYNC_USER=" + printable(sync::invoking_user()));
            fields.push_back("DEPSYNC_INVOKER=" + printable(sync::invoker()));
        }
        std::vector<iovec> iov;
        for (std::string& f : fields) iov.push_back({f.data(), f.size()});
        // A journal that cannot take the line must not fail the run: the line is lost, as with syslog.
        (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    }
    void flush_() override {}
};

}  // namespace

bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (!stream) return false;
    std::uintmax_t dev = 0, ino = 0;
    if (std::sscanf(stream, "%" SCNuMAX ":%" SCNuMAX, &dev, &ino) != 2) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<std::uintmax_t>(st.st_dev) == dev && static_cast<std::uintmax_t>(st.st_ino) == ino;
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink() {
    return std::make_shared<JournalSink>();
}

int journal_priority(int level) {
    switch (static_cast<spdlog::level::level_enum>(level)) {
        case spdlog::level::critical:
            return 2;
        case spdlog::level::err:
            return 3;
        case spdlog::level::warn:
            return 4;
        case spdlog::level::info:
            return 6;
        default:
            return 7;
    }
}

}  // namespace depsync::cli
