// depsync doctor: this node checked as a careful operator would, one line per check; and what `cluster
// doctor` prints of every node's answer.

#include "cli/cmd_doctor.hpp"

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/printable.hpp"
#include "core/sync/doctor.hpp"

namespace depsync::cli {
namespace {

// "problem: lock: another depsync run ...; fix: wait for it ..."
std::string check_line(const std::string& state, const std::string& name, const std::string& detail,
                       const std::string& fix) {
    return state + ": " + name + ": " + detail + (fix.empty() ? "" : "; fix: " + fix);
}

std::string verdict(std::size_t problems, std::size_t total) {
    return problems == 0 ? "healthy: " + std::to_string(total) + " check(s), no problem"
                         : "not healthy: " + std::to_string(problems) + " problem(s) in " +
                               std::to_string(total) + " check(s)";
}

Json doctor_json(const sync::Settings& settings, const std::vector<sync::DoctorCheck>& checks) {
    Json items = Json::array();
    for (const sync::DoctorCheck& c : checks)
        items.push_back({{"check", c.name},
                         {"state", sync::check_state_name(c.state)},
                         {"detail", c.detail},
                         {"fix", text_or_null(c.fix)}});
    return {{"node", settings.node},
            {"role", sync::role_name(settings.role)},
            {"healthy", sync::healthy(checks)},
            {"checks", std::move(items)}};
}

void run_doctor(Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::DoctorInput input;
    input.config_file = ctx.global.config_file;
    input.log_file = ctx.global.log_file;
    std::vector<sync::DoctorCheck> checks = sync::run_doctor(settings, input);
    if (ctx.cmd.json) {
        std::cout << json_text(doctor_json(settings, checks)) << "\n";
    } else {
        std::size_t problems = 0;
        for (const sync::DoctorCheck& c : checks) {
            problems += c.state == sync::CheckState::problem;
            std::cout << printable(check_line(sync::check_state_name(c.state), c.name, c.detail, c.fix))
                      << "\n";
        }
        std::cout << verdict(problems, checks.size()) << "\n";
    }
    if (!sync::healthy(checks)) ctx.exit_code = ExitCode::failure;
}

// One node's summary: its verdict line, then a line per problem; false unless it answered and is healthy.
bool print_node(const sync::ClusterNode& node, const sync::NodeCall& call, Json* out) {
    nlohmann::json answer;
    try {
        if (call.reached) answer = parse_json(call.out);
    } catch (const std::exception&) {
        answer = nullptr;
    }
    const bool answered = answer.is_object() && answer.contains("checks") && answer["checks"].is_array();
    std::string label = answered ? answer.value("node", node.target) : node.target;
    if (!answered) {
        std::string error = call.error.empty() ? "no answer from depsync doctor" : call.error;
        if (out) {
            out->push_back({{"target", node.target},
                            {"node", nullptr},
                            {"reachable", call.reached},
                            {"error", error},
                            {"healthy", false},
                            {"checks", Json::array()}});
        } else {
            std::cout << printable(label + ": " + (call.reached ? "FAILED: " : "UNREACHABLE: ") + error)
                      << "\n";
        }
        return false;
    }
    const bool is_healthy = answer.value("healthy", false);
    if (out) {
        out->push_back({{"target", node.target},
                        {"node", label},
                        {"reachable", true},
                        {"error", nullptr},
                        {"healthy", is_healthy},
                        {"checks", answer["checks"]}});
        return is_healthy;
    }
    std::size_t problems = 0;
    std::string lines;
    for (const auto& c : answer["checks"]) {
        if (!c.is_object() || c.value("state", "") != "problem") continue;
        ++problems;
        std::string fix = c.contains("fix") && c["fix"].is_string() ? c["fix"].get<std::string>() : "";
        lines +=
            "  " + printable(check_line("problem", c.value("check", "?"), c.value("detail", ""), fix)) + "\n";
    }
    std::cout << printable(label + ": " + verdict(problems, answer["checks"].size())) << "\n" << lines;
    return is_healthy && problems == 0;
}

}  // namespace

bool print_cluster_doctor(const std::vector<sync::ClusterNode>& nodes,
                          const std::vector<sync::NodeCall>& calls, bool json) {
    Json items = Json::array();
    std::size_t healthy_nodes = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i)
        healthy_nodes += print_node(nodes[i], calls[i], json ? &items : nullptr);
    if (json) {
        std::cout << json_text(items) << "\n";
    } else {
        std::cout << (healthy_nodes == nodes.size()
                          ? "healthy: all " + std::to_string(nodes.size()) + " node(s)"
                          : "not healthy: " + std::to_string(nodes.size() - healthy_nodes) + " of " +
                                std::to_string(nodes.size()) + " node(s)")
                  << "\n";
    }
    return healthy_nodes == nodes.size();
}

void add_doctor(CLI::App& app, Context& ctx) {
    auto* doctor = app.add_subcommand(
        "doctor", "Check this node as a careful operator would; each problem with its fix");
    doctor->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    doctor->footer(
        "Checks, changing nothing: the config file's mode; who owns the deployment directory, the state "
        "folder\n"
        "and the repository versus who runs; the remote (host key, authentication, repository) or, on the\n"
        "primary, the repository and git-upload-pack; the metrics and log paths; free space against the\n"
        "release size; the lock; the systemd units. One line per check (ok, problem with its fix, skipped).\n"
        "Exit 0 when healthy, 1 when a check found a problem, 2 when the config cannot be read.\n"
        "Example: sudo -u wso2mi depsync -c /etc/depsync/mi.conf doctor");
    doctor->callback([&ctx] { run_doctor(ctx); });
}

}  // namespace depsync::cli
