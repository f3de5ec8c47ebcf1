#pragma once

// Plausible Synapse / Micro Integrator XML for generated deployment trees: the right root element
// per folder, padded with mediators or parameters to a requested size. Well-formed, not meant to
// deploy.

#include <cstddef>
#include <string>
#include <string_view>

#include "support/random_util.hpp"

namespace depsync::testing {

enum class XmlKind {
    synapse,
    registry,
    sequence,
    api,
    endpoint,
    proxy,
    local_entry,
    inbound,
    message_store,
    message_processor,
    task,
    template_,
    dataservice,
    userstore,
};

// Well-formed XML for an artifact called `name`, at least `target_bytes` long when that exceeds
// the bare skeleton (the last padding line may overshoot by a line).
std::string make_xml_artifact(XmlKind kind, std::string_view name, std::size_t target_bytes, Rng& rng);

// A capitalised business word ("Orders", "Payments", ...), for artifact and app names.
std::string_view business_noun(std::size_t index);
std::size_t business_noun_count();

}  // namespace depsync::testing
