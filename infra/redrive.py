"""Move messages from the dead-letter queue back to the jobs queue, for operators.

    .local/venv/bin/python infra/redrive.py --dlq-url URL --queue-url URL [--max N] [--copy]

On AWS it starts an SQS message move task (StartMessageMoveTask), which SQS runs on its own
and which keeps each message's attributes. Where that API is missing (moto, older LocalStack)
or with --copy, it moves messages itself: receive, send to the queue with the same body and
attributes (less the worker's dead_letter_* attributes), delete — one at a time, so a crash
duplicates at most one message, which the worker tolerates.

Redrive after fixing what made the messages fail. With the template's DeadLetterConsumer
enabled (the default) dead letters fail their job at once, so there is little to redrive;
disable it to hold messages for investigation first.
"""

import argparse
import os
import sys

import boto3
from botocore.exceptions import ClientError

WORKER_ATTRIBUTES = {"dead_letter_reason", "dead_letter_detail", "source_message_id"}


def arn_of(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def move_task(sqs, dlq_url, queue_url):
    task = sqs.start_message_move_task(SourceArn=arn_of(sqs, dlq_url), DestinationArn=arn_of(sqs, queue_url))
    print(f"started message move task {task['TaskHandle']}; watch it with list-message-move-tasks")


def copy(sqs, dlq_url, queue_url, limit):
    moved = 0
    while moved < limit:
        got = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=1, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            break
        message = got[0]
        attributes = {
            name: value
            for name, value in message.get("MessageAttributes", {}).items()
            if name not in WORKER_ATTRIBUTES
        }
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"], MessageAttributes=attributes)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    print(f"moved {moved} message(s) from the dead-letter queue to the jobs queue")
    return moved


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dlq-url", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--max", type=int, default=10_000, help="most messages to move with --copy")
    parser.add_argument("--copy", action="store_true", help="move messages here instead of a move task")
    args = parser.parse_args()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", region_name=region)
    if not args.copy:
        try:
            move_task(sqs, args.dlq_url, args.queue_url)
            return 0
        except ClientError as err:
            print(f"message move task unavailable ({err.response['Error'].get('Code')}); copying instead")
    copy(sqs, args.dlq_url, args.queue_url, args.max)
    return 0


if __name__ == "__main__":
    sys.exit(main())
