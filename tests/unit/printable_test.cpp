#include <catch2/catch.hpp>

#include "core/printable.hpp"

using depsync::printable;

TEST_CASE("printable passes printable ASCII and valid UTF-8 unchanged") {
    CHECK(printable("synapse-configs/default/api/Orders.xml") == "synapse-configs/default/api/Orders.xml");
    CHECK(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6") ==
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6");
    CHECK(printable("") == "");
}

TEST_CASE("printable escapes C0 controls, DEL and the backslash") {
    CHECK(printable("a\nb\tc\rd") == "a\\nb\\tc\\rd");
    CHECK(printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(printable(std::string("nul\0x", 5)) == "nul\\x00x");
    CHECK(printable("\x07\x08\x7f") == "\\x07\\x08\\x7f");
    // A literal backslash cannot be mistaken for an escape.
    CHECK(printable("a\\x1b") == "a\\\\x1b");
}

TEST_CASE("printable escapes C1 controls and every byte that is not valid UTF-8") {
    CHECK(printable("\xc2\x9b"
                    "2J") == "\\xc2\\x9b2J");      // U+009B CSI
    CHECK(printable("\xc2\x85") == "\\xc2\\x85");  // U+0085 NEL
    CHECK(printable("\xc2\xa0") == "\xc2\xa0");    // U+00A0 is printable
    CHECK(printable("\x9b"
                    "31m") == "\\x9b31m");                           // a lone 8-bit CSI
    CHECK(printable("\xff\xfe") == "\\xff\\xfe");                    // never UTF-8
    CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");                    // overlong '/'
    CHECK(printable("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");           // overlong
    CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // a surrogate
    CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    CHECK(printable("\xe2\x82") == "\\xe2\\x82");                    // truncated
    CHECK(printable("x\xc3") == "x\\xc3");                           // truncated at the end
}
