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
// The archive is found the way Java's ZipFile finds it, so every archive Java reads passes: the end
// record is searched backwards over its comment (bytes after the comment are tolerated when the record
// points at a real central directory); zip64 end records are followed through their locator; the
// central directory is the one that ends where the end record(s) begin, and its offsets are relative
// to where the archive starts, so data before the archive is allowed (a self-extracting stub, or an
// earlier archive: a zip written twice back to back). Complete then means: the directory's records
// fill it exactly, each with a valid signature; every entry's local header has a valid signature and
// its header, name, extra field and data fit before the directory.
//
// What Java would also read but a copy still being written can look like is refused: bytes after the
// end record that begin another zip record (a second copy not finished), and an archive whose prefix
// starts like a zip but does not end with a complete one (the stored inner zip of an outer archive
// cut right after it). So any strict prefix of a valid archive fails this check.
//
// Reads with pread only: the caller keeps ownership of `fd`, its offset is left unchanged and it is
// not closed. Memory stays bounded (one window of the central directory at a time). A read error is
// reported as a reason too, since the archive cannot be shown to be complete.
std::optional<std::string> find_zip_defect(int fd);

}  // namespace depsync::fs
