#pragma once
// Amounts in the units an operator reads.

#include <cstdint>
#include <string>

namespace depsync {

// "512 B", "1.5 KiB", "30.0 MiB", "1.2 GiB".
std::string human_bytes(std::uint64_t n);

}  // namespace depsync
