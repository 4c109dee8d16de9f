#!/usr/bin/env bash
# `buf breaking`: the protobuf API in proto/ against the previous commit's (HEAD~1 unless
# BUF_BREAKING_AGAINST names another revision), with the FILE rules of buf.yaml. A change
# that breaks wire or generated-code compatibility fails `make test`; when a break is meant
# (a new major version), say so in the commit and in docs/api.md, and the next commit
# compares against it.
#
# A clone without the previous commit (shallow, no remote to deepen from) is told so and
# skips the check, since there is nothing to compare against.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUF=${BUF:-.bin-npm/node_modules/.bin/buf}
AGAINST=${BUF_BREAKING_AGAINST:-HEAD~1}

has_revision() { git rev-parse --verify --quiet "$AGAINST^{commit}" >/dev/null; }

if ! has_revision; then
    git fetch --quiet --deepen=1 2>/dev/null || true
fi
if ! has_revision; then
    echo "buf-breaking: $AGAINST is not in this clone; nothing to compare the protobuf API against" >&2
    exit 0
fi
commit=$(git rev-parse "$AGAINST^{commit}")
echo "buf-breaking: proto/ against $AGAINST ($commit)"
"$BUF" breaking --against ".git#ref=$commit"
