// depsync internal: hidden; prints the files written from the program itself (generated.hpp).

#include <iostream>
#include <memory>

#include "cli/generated.hpp"

namespace depsync::cli {

void add_internal(CLI::App& app) {
    auto* internal = app.add_subcommand("internal", "")->group("")->require_subcommand(1);
    internal->add_subcommand("completion", "")->callback([&app] { std::cout << bash_completion(app); });
    auto* sample = internal->add_subcommand("sample-config", "");
    auto role = std::make_shared<std::string>();
    sample->add_option("ROLE", *role)->required()->check(CLI::IsMember({"primary", "peer"}));
    sample->callback(
        [role] { std::cout << sample_config(*role == "primary" ? sync::Role::primary : sync::Role::peer); });
}

}  // namespace depsync::cli
