#pragma once

// Structural check of zip archives (.car, .jar, ...) before they are published.
//
// The receiving server extracts a changed archive as soon as it sees it; a half-written one fails to
// deploy and, if it replaced a working version, takes that app down. Publishing therefore refuses
// archives whose zip structure is incomplete. The check reads only the end record, the central
// directory and one local header per entry, never the entries' data, so it costs a few reads even
// for a 200 MB archive.

#include <optional>
#include <string>
#include <string_view>

namespace depsync::fs {

// True when the file name ends, ignoring case, in one of the zip-based extensions the server
// deploys: .car .zip .jar .mar .aar.
bool is_archive_name(std::string_view file_name);

// Returns std::nullopt when the zip behind `fd` is structurally complete, otherwise a short reason
// such as "no end-of-central-directory record" or "entry 3: bad local header signature" (entries
// are numbered from 1 in central-directory order).
//
// Complete means: an end-of-central-directory record (optionally followed by its comment, or
// replaced by zip64 records through the zip64 locator) that accounts for the end of the file; right
// before it a central directory of exactly the declared entries, each with a valid signature; for every
// entry a local header with a valid signature whose header, name, extra field and compressed data
// fit before the central directory. Any strict prefix of a valid archive fails this check.
//
// Reads with pread only: the caller keeps ownership of `fd`, its offset is left unchanged and it is
// not closed. Memory stays bounded (one window of the central directory at a time). A read error is
// reported as a reason too, since the archive cannot be shown to be complete.
std::optional<std::string> find_zip_defect(int fd);

}  // namespace depsync::fs
