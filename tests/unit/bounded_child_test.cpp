#include "core/fs/bounded_child.hpp"

#include <signal.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/fs/child_process.hpp"

using Catch::Matchers::Contains;
using depsync::Error;
using depsync::ExitCode;
using depsync::fs::ChildReport;
using depsync::fs::decode_report;
using depsync::fs::encode_report;
using depsync::fs::run_bounded;

namespace {

// The message and code of the Error the call throws ("" when it throws none).
std::pair<std::string, ExitCode> error_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const Error& e) {
        return {e.what(), e.code()};
    }
    return {"", ExitCode::ok};
}

}  // namespace

TEST_CASE("a bounded child returns its work's result byte for byte", "[bounded_child]") {
    std::string result = std::string("a\0b\nc", 5) + std::string(200000, '\xff') + "\ndepsync-report 0 1\n";
    CHECK(run_bounded("test", 20, [&] { return result; }) == result);
    CHECK(run_bounded("test", 20, [] { return std::string(); }).empty());
}

TEST_CASE("an Error in a bounded child is thrown again here with its message and exit code",
          "[bounded_child]") {
    auto [message, code] = error_of(
        [] { run_bounded("test", 20, []() -> std::string { throw Error("bad config", ExitCode::usage); }); });
    CHECK(message == "bad config");
    CHECK(code == ExitCode::usage);
}

TEST_CASE("a bounded child past its timeout is ended and named", "[bounded_child]") {
    auto [message, code] = error_of([] {
        run_bounded("fetch from test", 1, [] {
            std::this_thread::sleep_for(std::chrono::seconds(60));
            return std::string();
        });
    });
    CHECK(message ==
          "cannot fetch from test: no answer within the timeout of 1 s (config 'timeout'); nothing was "
          "applied");
    CHECK(code == ExitCode::failure);
}

TEST_CASE("a bounded child that dies or leaves without a report is an error, not a result",
          "[bounded_child]") {
    auto killed = error_of([] {
        run_bounded("test", 20, [] {
            ::raise(SIGKILL);
            return std::string("never");
        });
    });
    CHECK(killed.first == "cannot test: the transfer process killed by signal Killed");
    auto silent = error_of([] { run_bounded("test", 20, []() -> std::string { ::_exit(0); }); });
    CHECK(silent.first == "cannot test: the transfer process exited without a report");
}

TEST_CASE("a bounded child that exceeds its memory bound is reported with the bound", "[bounded_child]") {
    auto [message, code] = error_of([] {
        run_bounded(
            "test", 20,
            [] {
                std::vector<char> big(std::size_t(512) << 20, 'x');
                return std::string(1, big[big.size() - 1]);
            },
            std::uint64_t(64) << 20, "max_fetch_memory");
    });
    CHECK_THAT(message, Contains("memory bound of 64 MiB, config 'max_fetch_memory'"));
    CHECK(code == ExitCode::failure);
}

TEST_CASE("a report reads back exactly as it was written", "[bounded_child]") {
    for (const ChildReport& r :
         {ChildReport{0, ""}, ChildReport{0, std::string("\0\n\xff", 3)}, ChildReport{2, "cannot parse: x"},
          ChildReport{4, std::string(1 << 20, 'a')}}) {
        auto back = decode_report(encode_report(r));
        REQUIRE(back);
        CHECK(back->code == r.code);
        CHECK(back->text == r.text);
    }
}

TEST_CASE("a short, long, garbled or hostile report is refused", "[bounded_child]") {
    const std::vector<std::string> bad = {
        "",
        "depsync-report",
        "depsync-report 0 5\nabc",                                 // cut short
        "depsync-report 0 2\nabc",                                 // bytes after the text
        "depsync-report 5 0\n",                                    // no such exit code
        "depsync-report -1 0\n",                                   // signed
        "depsync-report +1 0\n",                                   // signed
        "depsync-report 0 +3\nabc",                                // signed
        "depsync-report 0 03\nabc",                                // not canonical
        "depsync-report 0 3 \nabc",                                // trailing space
        "depsync-report 0  3\nabc",                                // two spaces
        "depsync-report 0 18446744073709551619\n",                 // overflows
        "depsync-report 0 1048577\n" + std::string(1048577, 'a'),  // beyond the bound
        "depsync-report 0 3",                                      // no end of header
        "Depsync-report 0 0\n",
        " depsync-report 0 0\n",
        "depsync-report 0 0\ndepsync-report 0 0\n",  // two reports
        std::string("depsync-report 0\0 0\n", 20),
    };
    for (const std::string& bytes : bad) {
        INFO(bytes.substr(0, 60));
        CHECK_FALSE(decode_report(bytes));
    }
}

TEST_CASE("random and mutated reports never crash the reader and only canonical ones are accepted",
          "[bounded_child]") {
    std::mt19937 rng(14);
    const std::string valid = encode_report({1, "cannot fetch: stalled"});
    for (int i = 0; i < 20000; ++i) {
        std::string bytes = valid;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            std::size_t at = rng() % (bytes.size() + 1);
            switch (rng() % 3) {
                case 0:
                    if (at < bytes.size()) bytes[at] = static_cast<char>(rng());
                    break;
                case 1:
                    if (at < bytes.size()) bytes.erase(at, 1);
                    break;
                default:
                    bytes.insert(at, 1, static_cast<char>(rng()));
            }
        }
        auto back = decode_report(bytes);
        if (back) CHECK(encode_report(*back) == bytes);
    }
}

TEST_CASE("garbage sent through a forked child's result pipe is refused by the reader", "[bounded_child]") {
    depsync::fs::ChildProcess child = depsync::fs::ChildProcess::fork_call([](int fd) {
        (void)!::write(fd, "depsync-report 0 99\nshort", 25);
        ::_exit(0);
    });
    std::string bytes;
    child.finish(&bytes, nullptr, 1000, depsync::fs::deadline_after(20));
    CHECK(bytes == "depsync-report 0 99\nshort");
    CHECK_FALSE(decode_report(bytes));
}
