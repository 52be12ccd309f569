#!/bin/sh
# graft's container entrypoint: `serve` listens on all interfaces inside the
# container, which graft allows only with an API token (GRAFT_TOKEN or a
# mounted token file); everything else is passed to graft as is.
set -e
if [ "$1" = "serve" ]; then
  shift
  exec graft serve --listen 0.0.0.0:8470 --data-dir /work/data --allow-root /work "$@"
fi
exec graft "$@"
