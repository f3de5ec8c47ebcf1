#pragma once
// Text from outside depsync (file names, commit messages, node names, other programs' output) made safe for
// a terminal or a log line. A hostile name must not move the cursor, clear the screen, set a window title,
// forge a line of output, or hide what follows it.

#include <string>
#include <string_view>

namespace depsync {

// `text` with every byte a terminal could act on written as an escape: \n, \t, \r and \\ as themselves,
// other C0 controls, DEL, C1 controls (U+0080..U+009F) and bytes that are not valid UTF-8 as \xNN.
// Printable ASCII and valid UTF-8 pass unchanged, so ordinary names read as they are.
std::string printable(std::string_view text);

}  // namespace depsync
