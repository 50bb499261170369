#!/usr/bin/env bash
# Installs what crlhf needs on this machine, from package registries only:
# npm packages, the tfjs-node addon against TensorFlow's C library (PyPI
# wheel), and the Temporal server (Go module proxy); with --with-s3 also the
# S3 server used by the tests. Idempotent; heavy parts are cached under
# $CRLHF_CACHE_DIR (default ~/.cache/contrastive-rlhf), so a second run takes seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

with_s3=0
for a in "$@"; do
  case "$a" in
    --with-s3) with_s3=1 ;;
    *) die "usage: $0 [--with-s3]" ;;
  esac
done

node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=6)?0:1)' \
  || die "Node.js >= 20.6 is required (found $(node --version))"

start=$(now)
# The Go builds are the long pole (minutes, CPU-bound) and independent of the
# rest: start them first, side by side, and install npm packages and
# TensorFlow meanwhile (mostly network and disk).
pids=()
bash infra/temporal.sh install & pids+=($!)
if [ "$with_s3" = 1 ]; then bash infra/s3.sh install & pids+=($!); fi

# npm itself trusts node_modules/.package-lock.json when it is newer than package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
bash infra/tensorflow.sh install

for p in "${pids[@]}"; do wait "$p" || die "a server build failed (see above)"; done
log "setup done in $(( $(now) - start ))s"
