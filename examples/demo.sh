#!/usr/bin/env bash
# The depsync demo: one primary and two peers on this machine, in a temp folder.
#
#   examples/demo.sh DEPSYNC_BIN TESTGEN_BIN
#
# The primary publishes a generated WSO2 MI-like deployment tree, both peers pull it; then a CApp gets a new
# version and another CApp is deleted, the primary publishes again and the peers pull again. At the end every
# peer's directory is compared with the primary's (bytes, folders including empty ones, exec bits, symlinks).
# Exit status: 0 when every node is identical to the primary, 1 otherwise.
# The temp folder is removed at exit; set DEPSYNC_KEEP_DEMO=1 to keep it for a look around.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DEPSYNC_BIN TESTGEN_BIN" >&2
  exit 2
fi
depsync_bin=$(realpath "$1")
testgen_bin=$(realpath "$2")
for bin in "$depsync_bin" "$testgen_bin"; do
  [ -x "$bin" ] || { echo "demo: $bin is not an executable (build first: scripts/build)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/depsync-demo.XXXXXX")
cleanup() {
  if [ "${DEPSYNC_KEEP_DEMO:-0}" = 1 ]; then
    echo "demo: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
cd "$work"

# Narration: a heading per step, and every command shown before it runs (paths relative to the demo folder).
step() { printf '\n=== %s\n' "$*"; }
show() {
  local out="$" arg
  for arg in "$@"; do
    case $arg in *[[:space:]]*) out+=" '$arg'" ;; *) out+=" $arg" ;; esac
  done
  printf '%s\n' "$out"
}
depsync() { show depsync "$@"; "$depsync_bin" "$@"; }
testgen() { show depsync-testgen "$@"; "$testgen_bin" "$@"; }

peers=(peer-a peer-b)

# Prints nothing and returns 0 when the two trees are identical; otherwise prints what differs.
same_tree() {
  local a=$1 b=$2 differs=0
  diff -r --no-dereference "$a" "$b" || differs=1
  # diff -r says nothing about two empty folders, nor about modes: compare those explicitly.
  diff <(cd "$a" && find . -type d | sort) <(cd "$b" && find . -type d | sort) || differs=1
  diff <(cd "$a" && find . -type f -perm -u+x | sort) <(cd "$b" && find . -type f -perm -u+x | sort) ||
    differs=1
  diff <(cd "$a" && find . -type l -printf '%p -> %l\n' | sort) \
       <(cd "$b" && find . -type l -printf '%p -> %l\n' | sort) || differs=1
  return $differs
}

release_of() {
  "$depsync_bin" -c "$1/depsync.conf" status --json | sed -n 's/.*"release":\([0-9]*\).*/\1/p'
}

step "1. The primary already runs an MI node: generate its deployment directory"
testgen tree primary/server --profile small
echo "folders: $(find primary/server -type d | wc -l) (empty: $(find primary/server -type d -empty | wc -l))," \
     "files: $(find primary/server -type f | wc -l), executable: $(find primary/server -type f -perm -u+x | wc -l)"

step "2. Set up the primary: a bare release repository and a config file"
depsync -c primary/depsync.conf init primary --node primary --dir primary/server \
  --repo releases.git --state primary/state
echo "--- primary/depsync.conf"
cat primary/depsync.conf

step "3. Set up two peers; their remote is the primary's repository"
for p in "${peers[@]}"; do
  depsync -c "$p/depsync.conf" init peer --node "$p" --dir "$p/server" --remote releases.git \
    --state "$p/state"
done

step "4. Publish release r1 on the primary"
depsync -c primary/depsync.conf publish -m "first deployment"
depsync -c primary/depsync.conf publish

step "5. Pull r1 on both peers"
for p in "${peers[@]}"; do depsync -c "$p/depsync.conf" pull; done
depsync -c peer-a/depsync.conf pull

step "6. A deploy on the primary: a new version of one CApp, another CApp deleted"
testgen mutate primary/server bump
testgen mutate primary/server delete-app --seed 4
ls primary/server/carbonapps

step "7. Publish release r2"
depsync -c primary/depsync.conf publish -m "new CApp version, one CApp retired"

step "8. Pull r2: first what peer-a would do (--dry-run touches nothing), then for real"
depsync -c peer-a/depsync.conf pull --dry-run
for p in "${peers[@]}"; do depsync -c "$p/depsync.conf" pull; done

step "9. The release history"
depsync -c primary/depsync.conf log

step "10. Each node's status"
for n in primary "${peers[@]}"; do
  depsync -c "$n/depsync.conf" status
  echo
done

step "11. Is every peer identical to the primary?"
failed=0
want=$(release_of primary)
for p in "${peers[@]}"; do
  problems=""
  got=$(release_of "$p")
  [ "$got" = "$want" ] || problems+=" runs r${got:-none} instead of r$want;"
  if ! same_tree primary/server "$p/server" >"$p.diff" 2>&1; then
    problems+=" directory differs:"
  fi
  if [ -z "$problems" ]; then
    echo "$p: identical to the primary (r$want: bytes, $(find "$p/server" -type d | wc -l) folders incl." \
         "$(find "$p/server" -type d -empty | wc -l) empty, exec bits, symlinks)"
  else
    echo "$p: DIFFERS from the primary:$problems"
    sed 's/^/    /' "$p.diff"
    failed=1
  fi
done

if [ $failed -eq 0 ]; then
  printf '\nVERDICT: OK - all %d peers hold exactly the primary'"'"'s release r%s\n' "${#peers[@]}" "$want"
else
  printf '\nVERDICT: FAILED - at least one node differs from the primary\n'
fi
exit $failed
