#pragma once
// cluster status --html: one self-contained page (inline CSS, no scripts, no external assets) with the node
// table and the recent releases, for a browser or a wiki attachment.

#include <cstdint>
#include <string>
#include <vector>

#include "cli/cluster_view.hpp"

namespace depsync::cli {

struct HtmlOptions {
    std::int64_t generated_at = 0;  // unix seconds, shown in UTC
    int refresh_seconds = 0;        // > 0: the browser reloads the page that often (meta refresh)
};

// The page: the verdict, the node table (a card per node in a narrow window), the recent releases with what
// each rollback restores. Every string from a node or the repository is escaped.
std::string render_html(const ClusterView& view, const std::vector<ReleaseView>& releases,
                        const HtmlOptions& options);

// `s` with & < > " ' escaped for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace depsync::cli
