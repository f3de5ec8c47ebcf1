#include "core/sync/apply.hpp"

#include <algorithm>
#include <set>

namespace depsync::sync {
namespace {

using git::EntryKind;
using git::is_file_like;

const git::Entry* find(const git::Listing& l, const std::string& p) {
    auto it = l.find(p);
    return it == l.end() ? nullptr : &it->second;
}

bool same(const git::Entry* a, const git::Entry* b) {
    if (!a || !b) return a == b;
    return a->same_as(*b);
}

// A file on disk that differs from the release's only in its exec bit.
bool mode_only(const git::Entry* local, const git::Entry* target) {
    auto regular = [](const git::Entry* e) {
        return e && (e->kind == EntryKind::file || e->kind == EntryKind::executable);
    };
    return regular(local) && regular(target) && local->kind != target->kind &&
           git_oid_equal(&local->oid, &target->oid);
}

// Folders under which a kept local change lies.
std::set<std::string> folders_holding_kept(const Plan& plan) {
    std::set<std::string> holding;
    for (const std::string& k : plan.kept)
        for (auto slash = k.find('/'); slash != std::string::npos; slash = k.find('/', slash + 1))
            holding.insert(k.substr(0, slash));
    return holding;
}

bool lies_in(const std::string& path, const std::string& named) {
    return named.empty() || path == named ||
           (path.size() > named.size() && path[named.size()] == '/' &&
            path.compare(0, named.size(), named) == 0);
}

bool in_any(const std::string& path, const std::vector<std::string>& only) {
    return std::any_of(only.begin(), only.end(), [&](const std::string& n) { return lies_in(path, n); });
}

bool above_any(const std::string& path, const std::vector<std::string>& only) {
    return std::any_of(only.begin(), only.end(),
                       [&](const std::string& n) { return n != path && lies_in(n, path); });
}

}  // namespace

Plan plan_update(const git::Listing& deployed, const git::Listing& target, const git::Listing& local,
                 LocalChanges policy, const git::Listing* interrupted) {
    Plan plan;
    plan.counts = git::count_changes(deployed, target);
    std::set<std::string> paths;
    for (const auto* l : {&deployed, &target, &local})
        for (const auto& kv : *l) paths.insert(kv.first);

    auto add = [&](StepKind kind, const std::string& path, const git::Entry* entry, bool backup) {
        Step s{kind, path, entry ? *entry : git::Entry{}, backup};
        if (backup) ++plan.backups;
        plan.steps.push_back(std::move(s));
    };

    // Local files left in place where the release has a folder, and the one `p` lies below, if any.
    std::set<std::string> kept_files;
    auto kept_file_above = [&](const std::string& p) -> const std::string* {
        for (auto slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
            auto it = kept_files.find(p.substr(0, slash));
            if (it != kept_files.end()) return &*it;
        }
        return nullptr;
    };
    auto local_is_file_like = [](const git::Entry* e) { return e && is_file_like(e->kind); };
    for (const std::string& p : paths) {
        const git::Entry* n = find(target, p);
        const git::Entry* o = find(deployed, p);
        const git::Entry* l = find(local, p);
        if (same(l, n)) continue;
        // The local entry is what the deployed release put there: changing it loses nothing.
        bool clean = same(l, o) || (interrupted && l && same(l, find(*interrupted, p)));
        bool local_is_file = l && is_file_like(l->kind);
        // Under a local file that is kept, the release cannot create a folder's content. Under refuse, that
        // file blocks what the release changes there: it is drift, listed once.
        if (const std::string* file = kept_file_above(p)) {
            if (policy == LocalChanges::refuse && !same(o, n)) {
                if (plan.drift.empty() || plan.drift.back() != *file) plan.drift.push_back(*file);
            } else if (n) {
                plan.kept.push_back(p);
            }
            continue;
        }
        if (!clean && l) {
            // refuse stops the pull only for local changes on paths the release changes.
            if (policy == LocalChanges::keep || (policy == LocalChanges::refuse && same(o, n))) {
                plan.kept.push_back(p);
                if (local_is_file_like(l)) kept_files.insert(p);
                continue;
            }
            if (policy == LocalChanges::refuse) {
                plan.drift.push_back(p);
                continue;
            }
            if (local_is_file) plan.drift.push_back(p);
        }
        bool backup = !clean && local_is_file;
        if (n && n->kind == EntryKind::directory) {
            if (local_is_file) add(StepKind::remove_file, p, nullptr, backup);
            add(StepKind::make_dir, p, n, false);
        } else if (n) {
            if (l && l->kind == EntryKind::directory) add(StepKind::remove_dir, p, nullptr, false);
            // The content stays: nothing to save, and no new file for the server to redeploy.
            if (mode_only(l, n))
                add(StepKind::change_mode, p, n, false);
            else
                add(StepKind::write, p, n, backup);
        } else if (l) {
            add(l->kind == EntryKind::directory ? StepKind::remove_dir : StepKind::remove_file, p, nullptr,
                backup);
        }
    }
    // A folder that the release turns into a file or symlink cannot be removed while it holds local
    // entries that stay, and the rename would then fail half-way through the apply.
    keep_folders_holding(plan, target, folders_holding_kept(plan), policy, true);
    return plan;
}

void keep_folders_holding(Plan& plan, const git::Listing& target, const std::set<std::string>& holding,
                          LocalChanges policy, bool policy_blocks) {
    if (holding.empty()) return;
    auto replaced_by_file = [&](const Step& s) {
        if (s.kind != StepKind::remove_dir && s.kind != StepKind::write) return false;
        const git::Entry* n = find(target, s.path);
        return n && is_file_like(n->kind) && holding.count(s.path) > 0;
    };
    std::vector<Step> steps;
    for (Step& s : plan.steps) {
        if (!replaced_by_file(s)) {
            steps.push_back(std::move(s));
            continue;
        }
        if (s.backup) --plan.backups;
        if (s.kind == StepKind::write)
            (policy == LocalChanges::refuse && policy_blocks ? plan.drift : plan.kept).push_back(s.path);
    }
    plan.steps = std::move(steps);
}

void separate_held_back(Plan& plan, const git::Listing& deployed, const git::Listing& target,
                        const std::set<std::string>& held_before) {
    std::vector<std::string> kept;
    for (std::string& p : plan.kept) {
        bool conflict = !same(find(deployed, p), find(target, p)) || held_before.count(p) > 0;
        (conflict ? plan.held_back : kept).push_back(std::move(p));
    }
    plan.kept = std::move(kept);
}

void restrict_plan(Plan& plan, const std::vector<std::string>& only,
                   const std::set<std::string>& held_before) {
    std::set<std::string> folders_made;
    for (const Step& s : plan.steps)
        if (s.kind == StepKind::make_dir && above_any(s.path, only)) folders_made.insert(s.path);
    std::vector<Step> steps;
    std::set<std::string> dropped;
    plan.backups = 0;
    for (Step& s : plan.steps) {
        bool makes_way = folders_made.count(s.path) > 0 &&
                         (s.kind == StepKind::make_dir || s.kind == StepKind::remove_file);
        if (!in_any(s.path, only) && !makes_way) {
            dropped.insert(s.path);
            continue;
        }
        if (s.backup) ++plan.backups;
        steps.push_back(std::move(s));
    }
    plan.steps = std::move(steps);
    auto keep_named = [&](std::vector<std::string>& paths) {
        paths.erase(std::remove_if(paths.begin(), paths.end(),
                                   [&](const std::string& p) { return !in_any(p, only); }),
                    paths.end());
    };
    keep_named(plan.drift);
    keep_named(plan.kept);
    for (const std::string& p : held_before)
        if (!in_any(p, only) && dropped.count(p)) plan.held_back.push_back(p);
    std::sort(plan.held_back.begin(), plan.held_back.end());
}

std::vector<const Step*> steps_in_apply_order(const Plan& plan) {
    // A folder waits for the commit when a file of the release's old content is in its place, or when the
    // folder above it waits (staging creates folders in plan order, parents first).
    std::set<std::string> removed_files, later;
    for (const Step& s : plan.steps)
        if (s.kind == StepKind::remove_file) removed_files.insert(s.path);
    std::vector<const Step*> staged, later_dirs, removed, removed_dirs, written, modes;
    for (const Step& s : plan.steps) {
        switch (s.kind) {
            case StepKind::make_dir: {
                auto slash = s.path.rfind('/');
                bool waits = removed_files.count(s.path) > 0 ||
                             (slash != std::string::npos && later.count(s.path.substr(0, slash)) > 0);
                if (waits) later.insert(s.path);
                (waits ? later_dirs : staged).push_back(&s);
                break;
            }
            case StepKind::remove_file:
                removed.push_back(&s);
                break;
            case StepKind::remove_dir:
                removed_dirs.insert(removed_dirs.begin(), &s);  // deepest first: the plan lists parents first
                break;
            case StepKind::write:
                written.push_back(&s);
                break;
            case StepKind::change_mode:
                modes.push_back(&s);
                break;
        }
    }
    std::vector<const Step*> order = std::move(staged);
    for (const auto* phase : {&removed, &removed_dirs, &later_dirs, &written, &modes})
        order.insert(order.end(), phase->begin(), phase->end());
    return order;
}

std::vector<std::string> describe_plan(const Plan& plan) {
    std::vector<std::string> lines;
    for (const Step* step : steps_in_apply_order(plan)) {
        const Step& s = *step;
        std::string note = s.backup ? "  (local change saved to backup)" : "";
        switch (s.kind) {
            case StepKind::make_dir:
                lines.push_back("create folder " + s.path + "/");
                break;
            case StepKind::write:
                lines.push_back("write  " + s.path + note);
                break;
            case StepKind::remove_file:
                lines.push_back("remove " + s.path + note);
                break;
            case StepKind::remove_dir:
                lines.push_back("remove folder " + s.path + "/");
                break;
            case StepKind::change_mode:
                lines.push_back(
                    std::string(s.entry.kind == EntryKind::executable ? "chmod +x " : "chmod -x ") + s.path +
                    "  (mode only: changed in place)");
                break;
        }
    }
    return lines;
}

}  // namespace depsync::sync
