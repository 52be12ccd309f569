#!/bin/sh
# test-api.sh GRAFT ST: schemathesis against daemon/openapi.yaml and a live
# graft serve on the loopback, with bounded examples. Fails on any 5xx,
# any answer the spec does not document, or a daemon that died.
set -eu
graft=$1 st=$2
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A data set and a trained model "digits" (job-000001), so that the spec's
# examples reach predict and the job endpoints.
go run ./testdata/gen images -out "$work/digits" -per-class 3
"$graft" serve --listen 127.0.0.1:$port --data-dir "$work/data" --allow-root "$PWD/testdata" --allow-root "$work/digits" \
	--log-format json --log-level warn 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/jobs" -d '{"model": "digits", "backbone": "'"$PWD"'/testdata/models/fashion_cnn", "tap": "conv2d_2", "data": "'"$work"'/digits", "preprocess": "unit", "head": "conv:8", "epochs": 1}' >/dev/null
for _ in $(seq 600); do
	curl -sf "http://127.0.0.1:$port/v1/jobs/job-000001" | grep -q '"state": "succeeded"' && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/v1/models/digits" >/dev/null || { echo "test-api: the model job did not succeed"; tail -20 "$work/serve.log"; exit 1; }
status=0
"$st" run daemon/openapi.yaml --url "http://127.0.0.1:$port" \
	--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
	--max-examples "${API_EXAMPLES:-40}" --seed 1 --workers 1 --request-timeout 30 \
	--phases examples,coverage,fuzzing --no-color --generation-database none || status=$?
if ! kill -0 $pid 2>/dev/null; then
	echo "test-api: graft serve died:"; tail -20 "$work/serve.log"; exit 1
fi
exit $status
