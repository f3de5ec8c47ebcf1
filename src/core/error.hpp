#pragma once
// The one error type of depsync: a message for the operator and the exit code the command ends with.
// Thrown where a failure is found, caught once in main.

#include <stdexcept>
#include <string>

namespace depsync {

enum class ExitCode : int {
    ok = 0,
    failure = 1,  // the run failed; nothing half-applied
    usage = 2,    // bad command line, configuration or REV
    locked = 3,   // another depsync run holds this node's lock
    drift = 4,    // verify found local differences
};

class Error : public std::runtime_error {
  public:
    explicit Error(std::string message, ExitCode code = ExitCode::failure)
        : std::runtime_error(std::move(message)), m_code(code) {}
    ExitCode code() const { return m_code; }

  private:
    ExitCode m_code;
};

// "cannot <what>: <strerror(errno)>" for a failed system call.
[[noreturn]] void throw_errno(const std::string& what, int err);
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace depsync
