#!/bin/sh
# test-api.sh GRAFT ST: schemathesis against daemon/openapi.yaml and a live
# graft serve on the loopback, with bounded examples. Fails on any 5xx,
# any answer the spec does not document, or a daemon that died.
set -eu
graft=$1 st=$2
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$graft" serve --listen 127.0.0.1:$port --data-dir "$work/data" --allow-root "$PWD/testdata" \
	--log-format json --log-level warn 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
status=0
"$st" run daemon/openapi.yaml --url "http://127.0.0.1:$port" \
	--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
	--max-examples "${API_EXAMPLES:-40}" --seed 1 --workers 2 --request-timeout 30 \
	--phases examples,coverage,fuzzing --no-color --generation-database none || status=$?
if ! kill -0 $pid 2>/dev/null; then
	echo "test-api: graft serve died:"; tail -20 "$work/serve.log"; exit 1
fi
exit $status
