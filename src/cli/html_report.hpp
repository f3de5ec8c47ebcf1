#pragma once
// cluster status --html: one self-contained page (inline CSS, no scripts, no external assets) with the node
// table and the recent releases, for a browser or a wiki attachment.

#include <cstdint>
#include <string>
#include <vector>

#include "cli/cluster_view.hpp"

namespace depsync::cli {

// The page; `generated_at` is unix seconds, shown in UTC.
std::string render_html(const ClusterView& view, const std::vector<ReleaseView>& releases,
                        std::int64_t generated_at);

// `s` with & < > " ' escaped for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace depsync::cli
