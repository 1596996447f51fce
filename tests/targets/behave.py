#!/usr/bin/env python3
"""A declared job type for the tests: does what its input's `behave` says, speaking the
accepted.job/v1 contract (the invocation on stdin, the answer on stdout, progress on stderr).
"""
import json
import os
import sys
import time


def answer(document):
    json.dump(document, sys.stdout)
    sys.stdout.flush()


def progress(percent, message=""):
    print(f"accepted:progress {percent} {message}", file=sys.stderr, flush=True)


invocation = json.load(sys.stdin)
assert invocation["contract"] == "accepted.job/v1", invocation
job = invocation["job"]
given = invocation["input"]
behave = given["behave"]

if behave == "ok":
    print("a log line for the server's log", file=sys.stderr, flush=True)
    answer({"result": {
        "text": given.get("text"),
        "attempt": job["attempt"],
        "job_id": job["id"],
        "correlation_id": job["correlation_id"],
        "deadline_ms": job.get("deadline_ms"),
        "now_ms": int(time.time() * 1000),
        "greeting": os.environ.get("GREETING"),
        "inherited_secret": os.environ.get("ACCEPTED_TEST_SECRET"),
        "cwd": os.getcwd(),
    }})
elif behave == "retry_once":
    if job["attempt"] == 1:
        answer({"error": {"code": "warming_up", "message": "try again", "retryable": True}})
    else:
        answer({"result": {"attempt": job["attempt"]}})
elif behave == "retryable":
    answer({"error": {"code": "downstream_busy", "message": "try later", "retryable": True}})
elif behave == "permanent":
    answer({"error": {"code": "no_words", "message": "the text has no words"}})
    sys.exit(1)
elif behave == "crash":
    raise RuntimeError("the script has a bug")
elif behave == "malformed":
    print("done!")
elif behave == "wrong_shape":
    answer({"result": {"count": "many"}})
elif behave == "progress":
    progress(40, "reading")
    time.sleep(float(given.get("seconds", 3)))
    answer({"result": {"done": True}})
elif behave == "sleep":
    time.sleep(float(given.get("seconds", 60)))
    answer({"result": {"slept": True}})
else:
    answer({"error": {"code": "unknown_behaviour", "message": behave}})
