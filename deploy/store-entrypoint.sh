#!/bin/sh
# fanbench-store: SeaweedFS as compose's S3 target, SigV4 auth on, with the same flags as
# `fanbench target up` (Sources/LocalTarget/LocalTarget.swift) but listening on every
# interface of the container. Plain HTTP: TLS would end at the proxy in front of it anyway.
#
# Environment:
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the one identity S3 accepts (required)
#   STORE_S3_PORT      S3 port (8333); SeaweedFS's other ports stay at its defaults inside
#                      the container (master 9333, volume 9340, filer 9350, each + 10000 gRPC)
#   STORE_DIR          data folder (/var/lib/fanbench/store)
# Extra arguments are passed on to `weed server`.
set -eu

: "${AWS_ACCESS_KEY_ID:?fanbench-store: set AWS_ACCESS_KEY_ID (compose: the env file)}"
: "${AWS_SECRET_ACCESS_KEY:?fanbench-store: set AWS_SECRET_ACCESS_KEY (compose: the env file)}"
port=${STORE_S3_PORT:-8333}
dir=${STORE_DIR:-/var/lib/fanbench/store}

# JSON string escaping for the two values (backslash and double quote; keys never hold control characters).
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

mkdir -p "$dir/data"
config="$dir/s3-identities.json"
umask 077
cat >"$config" <<EOF
{"identities":[{"name":"fanbench","credentials":[{"accessKey":"$(json_escape "$AWS_ACCESS_KEY_ID")","secretKey":"$(json_escape "$AWS_SECRET_ACCESS_KEY")"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
umask 022

exec weed server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=0.0.0.0 \
  -master.port=9333 -master.port.grpc=19333 \
  -volume.port=9340 -volume.port.grpc=19340 \
  -filer.port=9350 -filer.port.grpc=19350 \
  -s3 -s3.port="$port" -s3.port.grpc=$((port + 10000)) \
  -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$config" \
  -master.volumeSizeLimitMB=256 -volume.max=0 -metricsPort=0 \
  "$@"
