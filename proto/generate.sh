#!/usr/bin/env bash
# Generates Go code from proto/ecsauthz/v1 into proto/gen, or with --check
# generates into a temporary directory and fails if the committed code
# differs. Also runs `buf lint`. The generators are the versions pinned in
# tools/go.mod and come from the Go module proxy on first use.
set -euo pipefail
cd "$(dirname "$0")"

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
GOFLAGS=-modfile=../tools/go.mod go build -o "$bin/" \
  github.com/bufbuild/buf/cmd/buf \
  google.golang.org/protobuf/cmd/protoc-gen-go \
  google.golang.org/grpc/cmd/protoc-gen-go-grpc
export PATH="$bin:$PATH"

buf lint

if [[ "${1:-}" != "--check" ]]; then
  buf generate
  exit 0
fi

# Generate into a copy of this directory so that buf.gen.yaml's `clean`
# never touches the committed code.
work="$bin/proto"
mkdir -p "$work"
cp -r buf.yaml buf.gen.yaml ecsauthz "$work/"
(cd "$work" && buf generate)
if ! diff -r gen "$work/gen"; then
  echo "proto/gen is out of date: run proto/generate.sh and commit the result" >&2
  exit 1
fi
echo "proto/gen is up to date"
