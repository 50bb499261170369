#!/usr/bin/env bash
# An S3-compatible server for one machine: the Versity S3 gateway (Apache-2.0)
# over a local directory, built from the Go module proxy.
#
#   infra/s3.sh install   build versitygw once into $CRLHF_CACHE_DIR/bin (about 3.5 min on 2 cores)
#   infra/s3.sh start     start it on 127.0.0.1 with fresh credentials; prints the AWS_* variables to export
#   infra/s3.sh stop      stop it
#   infra/s3.sh status    print its endpoint and data directory, or exit 1
#
# start/stop/status share their logic with the crlhf CLI and the tests (infra/servers.ts).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSITYGW_VERSION=v1.7.0
BIN="$CRLHF_BIN_DIR/versitygw-$VERSITYGW_VERSION"

install() {
  go_install_cached "the S3 server (versitygw $VERSITYGW_VERSION)" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" "$BIN" 4
}

case "${1:-}" in
  install) install ;;
  start|stop|status) exec node --import tsx "$REPO_ROOT/infra/server-cli.ts" s3 "$1" ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
