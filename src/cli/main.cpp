// depsync: keeps the deployment directories of a server cluster identical through git releases.
// main reads like a table of contents: options and config, subcommands, one place where errors end the run.

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>

#include "cli/cmd_doctor.hpp"
#include "cli/config_file.hpp"
#include "cli/config_keys.hpp"
#include "cli/context.hpp"
#include "cli/generated.hpp"
#include "cli/journal_sink.hpp"
#include "cli/suggest.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/progress.hpp"
#include "core/sync/audit.hpp"

namespace {

// Every log message passes through `printable` on its way to stderr or the log file: the messages carry file
// names, commit text and other programs' output, none of which may reach a terminal raw. '%*' in a pattern.
class PrintablePayload : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        std::string text = depsync::printable(std::string_view(msg.payload.data(), msg.payload.size()));
        dest.append(text.data(), text.data() + text.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<PrintablePayload>();
    }
};

std::unique_ptr<spdlog::formatter> printable_pattern(const std::string& pattern) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<PrintablePayload>('*').set_pattern(pattern);
    return formatter;
}

using depsync::cli::Context;

// `init` writes the config file rather than reading it, so for init -c only names the file.
// Whether the command is `init`: the first word that is neither an option nor an option's value. Every
// global option but the flags -v/-q (and --help, --version) takes a value, as "--key VALUE" or "--key=VALUE";
// a later "init" (say, a release message) is not the command.
bool is_init(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--") return i + 1 < argc && std::string(argv[i + 1]) == "init";
        if (arg.size() < 2 || arg[0] != '-') return arg == "init";
        bool flag = arg == "--verbose" || arg == "--quiet" || arg == "--help" || arg == "--version" ||
                    (arg[1] != '-' && arg.find_first_not_of("vqh", 1) == std::string::npos);
        if (!flag && arg.find('=') == std::string::npos) ++i;  // skip its value
    }
    return false;
}

// The config file named by -c FILE, -cFILE, --config FILE or --config=FILE.
std::optional<std::string> named_on_command_line(int argc, char** argv) {
    std::optional<std::string> named;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--") break;
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            named = argv[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            named = arg.substr(9);
        } else if (arg.rfind("-c", 0) == 0 && arg.size() > 2 && arg[2] != '-') {
            named = arg.substr(2);
        }
    }
    return named;
}

void add_global_options(CLI::App& app, Context& ctx, bool init) {
    auto& g = ctx.global;
    g.config_file = depsync::cli::default_config_path();
    const char* help = "Config file (INI); default $DEPSYNC_CONFIG, then /etc/depsync/depsync.conf";
    if (init) {
        app.add_option("-c,--config", g.config_file, help);
    } else {
        // The config file must exist when it was named (-c or $DEPSYNC_CONFIG); the system default may be
        // absent.
        bool named = std::getenv("DEPSYNC_CONFIG") != nullptr;
        app.set_config("-c,--config", g.config_file, help, named);
        app.config_formatter(std::make_shared<depsync::cli::ConfigReader>(app, g));
    }
    app.add_flag("-v,--verbose", g.verbosity, "More detail on stderr (repeat for debug)")
        ->configurable(false);
    app.add_flag("-q,--quiet", g.quiet, "Only errors on stderr")->configurable(false);

    depsync::cli::add_config_keys(app, g);
}

// `doctor` reports a log file it cannot open as one of its checks instead of ending there.
enum class LogFile { required, optional };

void finish_logging(const std::vector<spdlog::sink_ptr>& sinks, spdlog::level::level_enum level) {
    auto logger = std::make_shared<spdlog::logger>("depsync", sinks.begin(), sinks.end());
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

void setup_logging(const Context& ctx, LogFile log_file) {
    // Progress lines only for an operator at a terminal: never under cron, timers or pipes.
    depsync::Progress::enable(!ctx.global.quiet && ::isatty(STDERR_FILENO) == 1);
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_formatter(printable_pattern("depsync: %^%l%$: %*"));
    // -v: the steps of the run (debug); the audit lines (info) and warnings come with them.
    if (ctx.global.quiet) {
        console->set_level(spdlog::level::err);
    } else if (ctx.global.verbosity >= 1) {
        console->set_level(spdlog::level::debug);
    } else {
        console->set_level(spdlog::level::warn);
    }
    std::vector<spdlog::sink_ptr> sinks{console};
    if (depsync::cli::stderr_is_journal()) {
        // Under systemd the journal is the log: every record goes there with its priority (and an audit line
        // with its fields), the audit lines even with -q; stderr carries nothing twice.
        auto journal = depsync::cli::make_journal_sink();
        journal->set_level(ctx.global.verbosity >= 1 ? spdlog::level::debug : spdlog::level::info);
        sinks = {journal};
        spdlog::register_logger(std::make_shared<spdlog::logger>("depsync-journal", journal));
    }
    auto level = sinks.front()->level();
    if (!ctx.global.log_file.empty()) {
        // The file keeps every run's steps (info) even when stderr stays quiet, as cron and timers want.
        std::shared_ptr<spdlog::sinks::rotating_file_sink_mt> file;
        try {
            file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(ctx.global.log_file,
                                                                          10 * 1024 * 1024, 5);
        } catch (const spdlog::spdlog_ex& e) {
            if (log_file == LogFile::optional) return finish_logging(sinks, level);
            throw depsync::Error("cannot open log file " + ctx.global.log_file + ": " + e.what(),
                                 depsync::ExitCode::usage);
        }
        file->set_formatter(printable_pattern("%Y-%m-%dT%H:%M:%S%z [%P] %l: %*"));
        file->set_level(ctx.global.verbosity >= 1 ? spdlog::level::debug : spdlog::level::info);
        level = std::min(level, file->level());
        sinks.push_back(file);
        spdlog::register_logger(std::make_shared<spdlog::logger>("depsync-file", file));
    }
    finish_logging(sinks, level);
}

// "depsync cluster pull": the command words given, for the audit lines.
std::string invoked_command(const CLI::App& app) {
    std::string words = "depsync";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
        sub = sub->get_subcommands().front();
        words += " " + sub->get_name();
    }
    return words;
}

// The run's error on stderr and, when a log file is configured, in the file too (escaped by its formatter).
// Error messages embed file names and other outside text: one line, escaped.
void print_error(const std::string& message) {
    if (auto journal = spdlog::get("depsync-journal")) {
        journal->error("{}", message);
    } else {
        std::cerr << "depsync: error: " << depsync::printable(message) << "\n";
    }
    if (auto file = spdlog::get("depsync-file")) file->error("{}", message);
}

}  // namespace

int main(int argc, char** argv) {
    depsync::git::Library libgit2;
    Context ctx;
    CLI::App app{"depsync: versioned, rollback-able sync of a cluster's deployment directories through git"};
    app.set_version_flag("--version", std::string("depsync ") + DEPSYNC_VERSION);
    app.require_subcommand(1);
    app.footer(
        "Exit codes: 0 ok, 1 failed (nothing half-applied), 2 usage or configuration, 3 another run\n"
        "holds the lock, 4 verify found differences; cluster status and cluster pull exit 1 unless every\n"
        "node is on the newest release. Example: depsync -c /etc/depsync/depsync.conf status\n"
        "See depsync(1) and 'depsync COMMAND --help'.");
    app.fallthrough();
    add_global_options(app, ctx, is_init(argc, argv));
    // Errors name the config file actually read: -c FILE, else $DEPSYNC_CONFIG, else the system default.
    if (auto named = named_on_command_line(argc, argv)) ctx.global.config_file = *named;
    app.parse_complete_callback([&ctx, &app] {
        setup_logging(ctx, app.got_subcommand("doctor") ? LogFile::optional : LogFile::required);
        depsync::sync::set_invoker(invoked_command(app));
    });

    depsync::cli::add_init(app, ctx);
    depsync::cli::add_publish(app, ctx);
    depsync::cli::add_pull(app, ctx);
    depsync::cli::add_status(app, ctx);
    depsync::cli::add_history(app, ctx);
    depsync::cli::add_rollback(app, ctx);
    depsync::cli::add_verify(app, ctx);
    depsync::cli::add_repair(app, ctx);
    depsync::cli::add_watch(app, ctx);
    depsync::cli::add_cluster(app, ctx);
    depsync::cli::add_gc(app, ctx);
    depsync::cli::add_config(app, ctx);
    depsync::cli::add_doctor(app, ctx);
    depsync::cli::add_internal(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::FileError&) {
        // A mistyped command explains the run better than the config it would have read.
        if (auto unknown = depsync::cli::unknown_command(app, argc, argv)) {
            std::cerr << "depsync: error: " << depsync::printable(*unknown) << " (see depsync --help)\n";
            return static_cast<int>(depsync::ExitCode::usage);
        }
        std::cerr << "depsync: error: config file " << depsync::printable(ctx.global.config_file)
                  << " does not exist (named by "
                  << (named_on_command_line(argc, argv) ? "-c" : "$DEPSYNC_CONFIG") << ")\n";
        return static_cast<int>(depsync::ExitCode::usage);
    } catch (const CLI::ParseError& e) {
        std::string message = e.what();
        if (auto unknown = depsync::cli::unknown_command(app, argc, argv)) message = *unknown;
        std::cerr << "depsync: error: " << depsync::printable(message) << " (see depsync --help)\n";
        return static_cast<int>(depsync::ExitCode::usage);
    } catch (const depsync::Error& e) {
        print_error(e.what());
        return static_cast<int>(e.code());
    } catch (const std::exception& e) {
        print_error(e.what());
        return static_cast<int>(depsync::ExitCode::failure);
    }
    return static_cast<int>(ctx.exit_code);
}
