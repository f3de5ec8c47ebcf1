# Turns the markdown manual into the markdown go-md2man makes the man page from (cmake -P, run by the build):
#   cmake -DMANUAL=docs/manual.md -DOUT=depsync.1.md -DVERSION=0.1.0 -P docs/manpage.cmake
# - What comes before the first "## " heading (the title and notes for readers of the markdown) is left out;
#   a title block takes its place, which go-md2man turns into the page's .TH line.
# - Links become plain text: [text](#anchor) -> text, [text](file.md#anchor) -> text (docs/file.md),
#   since a man page cannot follow them.

foreach(var MANUAL OUT VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "manpage.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${MANUAL}" text)
string(FIND "${text}" "\n## " start)
if(start EQUAL -1)
  message(FATAL_ERROR "${MANUAL}: no '## ' heading, so no man page sections")
endif()
string(SUBSTRING "${text}" ${start} -1 text)

string(REGEX REPLACE "\\[([^]]+)\\]\\(#[^)]*\\)" "\\1" text "${text}")
string(REGEX REPLACE "\\[([^]]+)\\]\\(\\.\\./([^)#]+)(#[^)]*)?\\)" "\\1 (\\2)" text "${text}")
string(REGEX REPLACE "\\[([^]]+)\\]\\(([^)#:]+\\.md)(#[^)]*)?\\)" "\\1 (docs/\\2)" text "${text}")

file(WRITE "${OUT}" "% DEPSYNC 1 \"\" \"depsync ${VERSION}\" \"User Commands\"\n${text}")
