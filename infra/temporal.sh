#!/usr/bin/env bash
# The Temporal server for one machine: the official Temporal CLI's dev server
# (SQLite persistence, Web UI), built from the Go module proxy.
#
#   infra/temporal.sh install   build the CLI once into $CRLHF_CACHE_DIR/bin (about 6 min on 2 cores)
#   infra/temporal.sh start     start it on 127.0.0.1 with its database under $CRLHF_STATE_DIR/temporal
#   infra/temporal.sh stop      stop it cleanly (SIGTERM, then SIGKILL after 15 s)
#   infra/temporal.sh status    print its address, Web UI, pid and database, or exit 1
#
# start/stop/status share their logic with the crlhf CLI (infra/servers.ts).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# v1.5.1 is the newest release whose go.mod has no `replace` directive, which
# `go install pkg@version` refuses.
TEMPORAL_CLI_VERSION=v1.5.1
BIN="$CRLHF_BIN_DIR/temporal-$TEMPORAL_CLI_VERSION"

install() {
  go_install_cached "the Temporal server (Temporal CLI $TEMPORAL_CLI_VERSION)" "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" "$BIN" 6
}

case "${1:-}" in
  install) install ;;
  start|stop|status) exec node --import tsx "$REPO_ROOT/infra/server-cli.ts" temporal "$1" ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
