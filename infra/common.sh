# Shared by the infra scripts: where caches and state live, and small helpers.
# Sourced, never run.

CRLHF_CACHE_DIR="${CRLHF_CACHE_DIR:-$HOME/.cache/contrastive-rlhf}"
CRLHF_STATE_DIR="${CRLHF_STATE_DIR:-$HOME/.local/state/contrastive-rlhf}"
CRLHF_BIN_DIR="$CRLHF_CACHE_DIR/bin"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch, for "took Ns" messages.
now() { date +%s; }

# Waits until a TCP port on 127.0.0.1 accepts connections.
wait_for_port() {
  local port=$1 timeout=${2:-60} start
  start=$(now)
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if (( $(now) - start >= timeout )); then return 1; fi
    sleep 0.2
  done
  exec 3>&- 3<&- 2>/dev/null || true
  return 0
}

# Picks a free TCP port on 127.0.0.1.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

require_go() {
  command -v go >/dev/null 2>&1 || die "Go is needed to build this server from the Go module proxy; install Go 1.22+ and retry"
}

# go_install_cached NAME PACKAGE@VERSION BINARY_PATH MINUTES
# Builds a Go command from the module proxy into BINARY_PATH once; later calls return at once.
go_install_cached() {
  local name=$1 pkg=$2 bin=$3 minutes=$4
  if [ -x "$bin" ]; then log "$name already built: $bin"; return 0; fi
  require_go
  log "building $name ($pkg) from the Go module proxy; this happens once and takes about $minutes minutes on 2 cores"
  local start tmp
  start=$(now)
  mkdir -p "$CRLHF_CACHE_DIR" "$(dirname "$bin")"
  tmp=$(mktemp -d "$CRLHF_CACHE_DIR/gobuild.XXXXXX")
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "$pkg" || { rm -rf "$tmp"; die "go install of $pkg failed (see above)"; }
  mv "$tmp/$(basename "${pkg%@*}")" "$bin" && rm -rf "$tmp"
  log "$name built in $(( $(now) - start ))s: $bin"
}
