#!/usr/bin/env bash
# Runs the three Lambda functions locally against moto server:
#   - moto server on 127.0.0.1:5151, with the table and queues of template.yaml
#   - cargo lambda watch on 127.0.0.1:9000 (HTTP functions at /lambda-url/<function>/...)
#   - an SQS poller standing in for Lambda's event source mapping: it receives batches,
#     invokes the worker, deletes what succeeded and leaves the failures for redelivery
# Ctrl-C stops all three (by PID).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/infra/setup.sh"
venv="$root/.local/venv"
export PATH="$venv/bin:$PATH"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE
# Never reach for the instance metadata service (169.254.169.254) for credentials.
export AWS_EC2_METADATA_DISABLED=true
port="${LAMBDA_PORT:-9000}"

AWS_ENDPOINT_URL="$("$root/infra/moto.sh" start)"
export AWS_ENDPOINT_URL
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$root/infra/moto.sh" stop
}
trap cleanup EXIT INT TERM

env_file="$root/.local/dev.env"
cargo run -q --locked --bin accepted-bootstrap -- --prefix accepted --format dotenv >"$env_file"
printf 'AWS_ENDPOINT_URL=%s\nAWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\nAWS_REGION=us-east-1\n' \
  "$AWS_ENDPOINT_URL" >>"$env_file"
# The JobTypesLayer's directory stands in for /opt, where Lambda mounts it.
sed -i "s|^JOB_TYPES_FILE=/opt/|JOB_TYPES_FILE=$root/job-types/|" "$env_file"
queue_url="$(sed -n 's/^JOBS_QUEUE_URL=//p' "$env_file")"

cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --env-file "$env_file" &
pids+=($!)

"$venv/bin/python" - "$queue_url" "$port" <<'PY' &
import json, subprocess, sys, tempfile, time
import boto3

queue_url, port = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs")
print(f"[poller] consuming {queue_url}", flush=True)
while True:
    out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                              MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
    messages = out.get("Messages", [])
    if not messages:
        continue
    records = [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "md5OfBody": m.get("MD5OfBody", ""),
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"],
                                  "stringListValues": [], "binaryListValues": []}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
    } for m in messages]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"Records": records}, f)
    res = subprocess.run(["cargo", "lambda", "invoke", "worker", "--data-file", f.name,
                          "--invoke-address", "127.0.0.1", "--invoke-port", port,
                          "--output-format", "json"], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"[poller] worker invocation failed: {res.stderr.strip()}", flush=True)
        time.sleep(1)
        continue
    failed = {f["itemIdentifier"] for f in json.loads(res.stdout).get("batchItemFailures", [])}
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    print(f"[poller] batch of {len(messages)}: {len(failed)} to retry", flush=True)
PY
pids+=($!)

echo "[dev] submit: POST http://127.0.0.1:$port/lambda-url/submit/jobs"
echo "[dev] status: GET  http://127.0.0.1:$port/lambda-url/status/jobs/<id>"
wait -n "${pids[@]}"
