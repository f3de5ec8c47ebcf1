#pragma once

// Small random helpers for the test-data generator. They avoid std::uniform_int_distribution and
// friends on purpose: those produce different sequences in different standard libraries, and a
// seed must give the same tree everywhere.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace depsync::testing {

using Rng = std::mt19937_64;

// Uniform in [lo, hi]; the modulo bias is irrelevant for test data.
inline std::uint64_t uniform(Rng& rng, std::uint64_t lo, std::uint64_t hi) {
    return lo + rng() % (hi - lo + 1);
}

// Uniform in [0, 1).
inline double unit_interval(Rng& rng) {
    return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

// Sizes spread evenly over orders of magnitude, like real artifact sizes.
inline std::uint64_t log_uniform(Rng& rng, std::uint64_t lo, std::uint64_t hi) {
    const double low = std::log(static_cast<double>(lo));
    const double high = std::log(static_cast<double>(hi));
    return static_cast<std::uint64_t>(std::exp(low + unit_interval(rng) * (high - low)));
}

inline void fill_random(Rng& rng, unsigned char* data, std::size_t size) {
    std::size_t pos = 0;
    while (pos < size) {
        const std::uint64_t word = rng();
        const std::size_t n = size - pos < sizeof word ? size - pos : sizeof word;
        std::memcpy(data + pos, &word, n);
        pos += n;
    }
}

// Lowercase hex, for identifiers and values that must differ between runs with different seeds.
inline std::string random_token(Rng& rng, std::size_t length) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string token(length, '0');
    for (auto& c : token) c = digits[rng() & 0xF];
    return token;
}

// `size` bytes of a fixed pseudo-random pattern (a linear congruential generator from `seed`): content that
// neither compresses nor repeats, the same on every machine.
inline std::string patterned(std::size_t size, unsigned seed) {
    std::string s(size, '\0');
    unsigned x = seed;
    for (char& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 16);
    }
    return s;
}

}  // namespace depsync::testing
