#!/usr/bin/env bash
# The team's own Lambda bootstraps, end to end on moto: the seven functions `sam build
# --base-dir examples/invoices` built from this project, run under cargo lambda's Runtime
# API emulator (tests/lambda/runtime.sh). Submit accepts `invoice.render` and refuses the
# types this deployment does not run; the worker renders the invoice from the very message
# submit put on the queue; status serves the result.
#
#   examples/invoices/tests/lambda.sh BOOTSTRAPS   BOOTSTRAPS/<function>/bootstrap
# Expects what tests/lambda/invoke.sh expects (moto running, credentials exported, the
# tooling installed). Called by infra/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
example="$root/examples/invoices"
cd "$root"
functions=(submit status worker)
job_types_dir="$example/job-types"
# shellcheck source=tests/lambda/runtime.sh
source "$root/tests/lambda/runtime.sh"
runtime_start "${1:?the directory of the bootstraps}"

# API Gateway events: accepted's fixture of POST /jobs, with this team's request in it.
request_event() { # out-file job-type input-file idempotency-key
  py "$root/events/submit.json" "$@" <<'PY'
import json, sys
fixture, out, job_type, input_file, key = sys.argv[1:6]
event = json.load(open(fixture))
event["body"] = json.dumps({"type": job_type, "input": json.load(open(input_file))})
event["headers"]["idempotency-key"] = key
event["headers"]["x-correlation-id"] = "invoice-corr-0001"
json.dump(event, open(out, "w"))
PY
}

step "submit: invoice.render is accepted (202, Location, the correlation id)"
request_event "$work/submit.json" invoice.render "$example/events/invoice.json" invoice-0001
invoke submit "$work/submit.json" >"$work/submit.out"
job_id="$(py "$work/submit.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 202, res
headers = {k.lower(): v for k, v in res["headers"].items()}
body = json.loads(res["body"])
assert headers["location"] == f"/jobs/{body['id']}", headers
assert headers["x-correlation-id"] == "invoice-corr-0001", headers
assert body["type"] == "invoice.render" and body["status"] == "pending", body
print(body["id"])
PY
)"
log "accepted job $job_id"

step "submit: a type this deployment does not run is refused (422), nothing queued"
printf '{"csv": "a\\n1\\n"}' >"$work/csv.json"
request_event "$work/csv-submit.json" csv.summary "$work/csv.json" invoice-0002
invoke submit "$work/csv-submit.json" >"$work/refused.out"
py "$work/refused.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 422, res
problem = json.loads(res["body"])
assert problem["errors"] == [{"pointer": "/type", "message": "unknown job type; known types: invoice.render"}], problem
PY

step "worker: the message submit queued, delivered as the SQS event source mapping delivers it"
py "$queue_url" "$work/batch.json" <<'PY'
import json, sys, boto3
queue_url, out = sys.argv[1:3]
sqs = boto3.client("sqs", region_name="us-east-1")
got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
                          MessageAttributeNames=["All"]).get("Messages", [])
assert len(got) == 1, f"one job queued, not the refused one: {got}"
arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
m = got[0]
records = [{
    "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
    "attributes": m["Attributes"], "md5OfBody": m["MD5OfBody"],
    "messageAttributes": {k: {"stringValue": v["StringValue"], "stringListValues": [],
                              "binaryListValues": [], "dataType": v["DataType"]}
                          for k, v in m.get("MessageAttributes", {}).items()},
    "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
}]
json.dump({"Records": records}, open(out, "w"))
PY
invoke worker "$work/batch.json" >"$work/worker.out"
py "$work/worker.out" <<'PY'
import json, sys
assert json.load(open(sys.argv[1]))["batchItemFailures"] == [], open(sys.argv[1]).read()
PY

placeholder="6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c"
step "status: completed, with the rendered invoice"
sed "s/$placeholder/$job_id/g" "$root/events/status.json" >"$work/status.json"
invoke status "$work/status.json" >"$work/status.out"
py "$work/status.out" <<'PY'
import hashlib, json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 200, res
job = json.loads(res["body"])
assert job["status"] == "completed" and job["attempts"] == 1, job
assert job["correlation_id"] == "invoice-corr-0001", job
result = job["result"]
assert (result["subtotal"], result["tax"], result["total"]) == (454998, 112450, 567448), result
assert hashlib.sha256(result["html"].encode()).hexdigest() == result["html_sha256"], result
assert "Total due</th><th class=\"n\">5674.48 EUR" in result["html"], result["html"]
PY

step "status: the result route serves the same document"
sed "s/$placeholder/$job_id/g" "$root/events/result.json" >"$work/result.json"
invoke status "$work/result.json" >"$work/result.out"
py "$work/result.out" "$work/status.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 200, res
job = json.loads(json.load(open(sys.argv[2]))["body"])
assert json.loads(res["body"])["html_sha256"] == job["result"]["html_sha256"], res
PY
echo "invoices on Lambda: $checks checks passed"
