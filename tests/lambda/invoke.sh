#!/usr/bin/env bash
# Runs the release bootstraps (the files that deploy) under cargo lambda's Runtime API
# emulator and invokes them with the fixtures in events/, against the moto server: the real
# lambda_runtime loop, the real event (de)serialization, the real AWS adapters.
#
# The stack, the emulator and the functions are started by tests/lambda/runtime.sh. The
# bootstraps come from infra/lambda-artifacts.sh (.local/lambda/<function>/bootstrap, linked
# to sam build's output).
#
# Expects: moto running (infra/moto.sh start), AWS_ENDPOINT_URL and credentials exported,
# tooling installed (infra/setup.sh), the bootstraps built. Called by infra/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
functions=(submit status worker dlq reconciler events webhooks)
# shellcheck source=tests/lambda/runtime.sh
source "$root/tests/lambda/runtime.sh"
runtime_start "${LAMBDA_BOOTSTRAPS:-$root/.local/lambda}"

# A batch answered with no failures, and exactly one message set aside on `dlq` with `reason`,
# naming `source_id`.
set_aside_once() { # response-file dlq-url reason source-message-id
  py "$@" <<'PY'
import json, sys, boto3
out, dlq, reason, source_id = sys.argv[1:5]
res = json.load(open(out))
assert res["batchItemFailures"] == [], res
sqs = boto3.client("sqs", region_name="us-east-1")
got = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
assert len(got) == 1, got
attrs = {k: v["StringValue"] for k, v in got[0]["MessageAttributes"].items()}
assert attrs["dead_letter_reason"] == reason, attrs
assert attrs["source_message_id"] == source_id, attrs
PY
}

step "submit: POST /jobs from events/submit.json"
invoke submit events/submit.json >"$work/submit.out"
job_id="$(py "$work/submit.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 202, res
headers = {k.lower(): v for k, v in res["headers"].items()}
assert headers["x-correlation-id"] == "fixture-corr-0001", headers
body = json.loads(res["body"])
assert headers["location"] == f"/jobs/{body['id']}", headers
assert body["status"] == "pending", body
print(body["id"])
PY
)"
log "accepted job $job_id"

step "submit again: the idempotent replay"
invoke submit events/submit.json >"$work/replay.out"
py "$work/replay.out" "$job_id" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
headers = {k.lower(): v for k, v in res["headers"].items()}
assert res["statusCode"] == 202 and headers.get("idempotent-replayed") == "true", res
assert json.loads(res["body"])["id"] == sys.argv[2]
PY

# The fixtures name a placeholder job; point them at the job just accepted.
placeholder="6f1c2a3e-8d4b-4f5a-9b7c-0d1e2f3a4b5c"
sed "s/$placeholder/$job_id/g" events/status.json >"$work/status.json"
sed "s/$placeholder/$job_id/g" events/worker-batch.json >"$work/worker.json"

step "status: pending"
invoke status "$work/status.json" >"$work/status1.out"
py "$work/status1.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 200, res
assert json.loads(res["body"])["status"] == "pending", res
assert "retry-after" in {k.lower() for k in res["headers"]}, res
PY

step "worker: a batch of the job and a poison record (set aside on the DLQ, not retried)"
invoke worker "$work/worker.json" >"$work/worker.out"
set_aside_once "$work/worker.out" "$dlq_url" not_json 059f36b4-87a3-44ab-83d2-661975830a7d

step "worker: job requests from SNS and EventBridge create and run their jobs"
invoke worker events/worker-sns-request.json >"$work/sns.out"
invoke worker events/worker-eventbridge-request.json >"$work/events.out"
py "$work/sns.out" "$work/events.out" "$table" <<'PY'
import json, sys, boto3
for out in sys.argv[1:3]:
    assert json.load(open(out))["batchItemFailures"] == [], (out, open(out).read())
table = boto3.resource("dynamodb", region_name="us-east-1").Table(sys.argv[3])
jobs = {i["owner"]: i for i in table.scan()["Items"] if i["pk"].startswith("JOB#")}
sns = jobs["sns:arn:aws:sns:us-east-1:123456789012:accepted-job-requests"]
events = jobs["events:com.example.orders"]
assert sns["status"] == "completed" and sns["correlation_id"] == "fixture-corr-sns", sns
assert events["status"] == "completed" and json.loads(events["result"])["rows"] == 2, events
PY

step "status: completed, with the CSV report"
invoke status "$work/status.json" >"$work/status2.out"
py "$work/status2.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
body = json.loads(res["body"])
assert body["status"] == "completed", body
assert body["result"]["rows"] == 3, body
assert body["result"]["columns"][1]["mean"] == 9.0, body
PY

step "status: the result route serves the completed job's report"
sed "s/$placeholder/$job_id/g" events/result.json >"$work/result.json"
invoke status "$work/result.json" >"$work/result.out"
py "$work/result.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 200, res
assert json.loads(res["body"])["rows"] == 3, res
PY

step "dlq: a dead letter fails its pending job with the evidence; a poison one is logged"
sed 's/fixture-submit-0001/fixture-submit-0002/' events/submit.json >"$work/submit2.json"
invoke submit "$work/submit2.json" >"$work/submit2.out"
second_id="$(py "$work/submit2.out" <<'PY'
import json, sys
print(json.loads(json.load(open(sys.argv[1]))["body"])["id"])
PY
)"
sed "s/$placeholder/$second_id/g" events/dead-letter-batch.json >"$work/dead.json"
sed "s/$placeholder/$second_id/g" events/status.json >"$work/status3.json"
invoke dlq "$work/dead.json" >"$work/dead.out"
invoke status "$work/status3.json" >"$work/status3.out"
py "$work/dead.out" "$work/status3.out" <<'PY'
import json, sys
assert json.load(open(sys.argv[1]))["batchItemFailures"] == []
body = json.loads(json.load(open(sys.argv[2]))["body"])
assert body["status"] == "failed", body
assert body["error"]["code"] == "dead_lettered" and "received 6 times" in body["error"]["message"], body
PY

step "status: listing shows the caller's jobs newest first; a finished job cannot be cancelled"
sed "s/$placeholder/$second_id/g" events/cancel.json >"$work/cancel.json"
invoke status events/list.json >"$work/list.out"
invoke status "$work/cancel.json" >"$work/cancel.out"
py "$work/list.out" "$work/cancel.out" "$job_id" "$second_id" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res["statusCode"] == 200, res
ids = [j["id"] for j in json.loads(res["body"])["jobs"]]
assert ids == [sys.argv[4], sys.argv[3]], ids
cancel = json.load(open(sys.argv[2]))
assert cancel["statusCode"] == 409, cancel
problem = json.loads(cancel["body"])
assert problem["type"] == "/problems/job-finished" and problem["job_status"] == "failed", problem
PY

step "events: a stream batch becomes one CloudEvent per state change on the bus"
subscriber="$(py "$bus" "$prefix" <<'PY'
import json, sys, boto3
bus, name = sys.argv[1], sys.argv[2] + "-subscriber"
sqs = boto3.client("sqs", region_name="us-east-1")
url = sqs.create_queue(QueueName=name)["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
events = boto3.client("events", region_name="us-east-1")
events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["accepted.jobs"]}))
events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
print(url)
PY
)"
invoke events events/job-stream.json >"$work/events.out"
py "$work/events.out" "$subscriber" <<'PY'
import json, sys, boto3
assert json.load(open(sys.argv[1]))["batchItemFailures"] == [], "all published"
sqs = boto3.client("sqs", region_name="us-east-1")
got = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10).get("Messages", [])
events = [json.loads(m["Body"])["detail"] for m in got]
types = sorted(e["type"] for e in events)
assert types == ["accepted.job.completed", "accepted.job.created", "accepted.job.started"], types
assert all(e["correlationid"] == "fixture-corr-0003" and e["specversion"] == "1.0" for e in events), events
PY

step "reconciler: a scheduled sweep finds nothing stale yet"
invoke reconciler events/schedule.json >"$work/sweep.out"
py "$work/sweep.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
assert res == {"examined": 0, "reenqueued": 0, "expired": 0, "cancelled": 0, "skipped": 0, "errors": 0}, res
PY

step "reconciler: a dispatch-check batch is told from the schedule; nothing to enqueue"
invoke reconciler events/dispatch-check-batch.json >"$work/checks.out"
py "$work/checks.out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
# A partial batch response, not a sweep report: a missing job and an unreadable check are
# both dropped, and neither comes back.
assert res == {"batchItemFailures": []}, res
PY

step "redrive: the operator script moves dead letters back to the jobs queue"
py "$queue_url" "$dlq_url" <<'PY'
import sys, boto3
sqs = boto3.client("sqs", region_name="us-east-1")
sqs.send_message(QueueUrl=sys.argv[2], MessageBody="redrive me",
                 MessageAttributes={"dead_letter_reason": {"DataType": "String", "StringValue": "not_json"},
                                    "correlation_id": {"DataType": "String", "StringValue": "c-redrive"}})
PY
"$venv/bin/python" infra/redrive.py --dlq-url "$dlq_url" --queue-url "$queue_url" >"$work/redrive.out"
py "$queue_url" "$dlq_url" <<'PY'
import sys, boto3
sqs = boto3.client("sqs", region_name="us-east-1")
count = lambda url: int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
assert count(sys.argv[2]) == 0, "the dead-letter queue is empty"
got = sqs.receive_message(QueueUrl=sys.argv[1], MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
for m in got:  # leave the queue as it was
    sqs.change_message_visibility(QueueUrl=sys.argv[1], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
found = [m for m in got if m["Body"] == "redrive me"]
assert len(found) == 1, found
assert set(found[0]["MessageAttributes"]) == {"correlation_id"}, found[0]["MessageAttributes"]
PY

step "webhooks: a callback to the metadata address is refused and set aside; a non-terminal event is skipped"
invoke webhooks events/webhook-batch.json >"$work/webhooks.out"
set_aside_once "$work/webhooks.out" "$webhook_dlq_url" destination_refused \
  a1f0c3d2-1111-4b5e-8c9d-0e1f2a3b4c5d

step "the two submits (and the redriven message) are on the queue"
py "$queue_url" <<'PY'
import sys, boto3
sqs = boto3.client("sqs", region_name="us-east-1")
attrs = sqs.get_queue_attributes(QueueUrl=sys.argv[1], AttributeNames=["ApproximateNumberOfMessages"])
assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "3", attrs
PY
step "logs: one flat JSON object per line, naming the function, its request id and the job"
py "$work/functions.log" "$job_id" <<'PY'
import json, sys
lines = []
for raw in open(sys.argv[1], errors="replace"):
    start = raw.find("{")  # the function's line, whatever precedes it
    try:
        line = json.loads(raw[start:]) if start >= 0 else None
    except ValueError:
        continue
    if isinstance(line, dict) and "function_request_id" in line:
        lines.append(line)
services = {l["service"] for l in lines}
# status logs cancels and failures only: its reads are the polling hot path, which API
# Gateway's access log already records.
assert services >= {"submit", "worker", "dlq", "events", "reconciler", "webhooks"}, services
for l in lines:
    for key in ("timestamp", "level", "message", "function_name", "cold_start"):
        assert key in l, (key, l)
accepted = [l for l in lines if l["message"] == "job accepted" and l["job_id"] == sys.argv[2]]
assert len(accepted) == 1, accepted
first = accepted[0]
assert first["service"] == "submit" and first["correlation_id"] == "fixture-corr-0001", first
assert first["function_name"] == "submit" and first["cold_start"] is True, first
replay = [l for l in lines if l["service"] == "submit" and l["message"] == "idempotent replay"]
assert replay and all(l["job_id"] == sys.argv[2] for l in replay), replay
assert replay[0]["function_request_id"] != first["function_request_id"], "a second invocation"
warm = [l for l in lines if l["service"] == "submit" and l["function_request_id"] != first["function_request_id"]]
assert warm and all(l["cold_start"] is False for l in warm), warm
assert not any("Oslo" in json.dumps(l) for l in lines), "no job input in the logs"
PY
echo "lambda runtime: $checks checks passed"
