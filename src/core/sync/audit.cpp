#include "core/sync/audit.hpp"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

#include "core/git/handle.hpp"

namespace depsync::sync {
namespace {

std::string& invoker_text() {
    static std::string text = "depsync";
    return text;
}

thread_local const AuditEvent* logging_now = nullptr;

std::string user_name(uid_t uid) {
    if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
    return "uid " + std::to_string(uid);
}

std::string counts_text(const git::ChangeCounts& c) {
    return "+" + std::to_string(c.added) + " ~" + std::to_string(c.modified) + " -" +
           std::to_string(c.deleted);
}

}  // namespace

void set_invoker(const std::string& command) {
    std::string text = command;
    const char* trigger = std::getenv("DEPSYNC_TRIGGER");
    // A trigger is a short name; longer text is cut rather than letting the environment fill the log.
    if (trigger && *trigger) text += " (" + std::string(trigger).substr(0, 64) + ")";
    invoker_text() = text;
}

const std::string& invoker() {
    return invoker_text();
}

std::string invoking_user() {
    std::string user = user_name(::geteuid());
    const char* sudo = std::getenv("SUDO_USER");
    if (::geteuid() == 0 && sudo && *sudo) user += " (sudo from " + std::string(sudo).substr(0, 64) + ")";
    return user;
}

std::string audit_line(const AuditEvent& event) {
    std::string line = event.action + ": " + event.what;
    if (event.commit) line += ", commit " + git::to_hex(*event.commit).substr(0, 12);
    if (event.counts) line += " (" + counts_text(*event.counts) + ")";
    return line + " by " + invoking_user() + " via " + invoker();
}

void audit(const AuditEvent& event) {
    logging_now = &event;
    try {
        spdlog::info("{}", audit_line(event));
    } catch (...) {
        logging_now = nullptr;
        throw;
    }
    logging_now = nullptr;
}

const AuditEvent* current_audit_event() {
    return logging_now;
}

}  // namespace depsync::sync
