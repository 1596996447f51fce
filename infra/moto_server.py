"""moto server, with DynamoDB's per-item atomicity restored.

moto serves requests on many threads and evaluates a DynamoDB condition expression and then
applies the write as two steps, so two concurrent conditional writes to one item can both
succeed (measured: 2 of 20 concurrent `UpdateItem`s with the same condition). DynamoDB
never allows that, and `accepted`'s exactly-once guarantees rest on it. This wrapper takes
one lock around moto's DynamoDB item operations; every other service (SQS long polling
included) stays concurrent. Arguments are moto_server's own.

It also makes one SQS lookup constant-time: moto 5.2 checks each received message's
retention by computing every attribute of its queue, counts included, so one receive costs
O(queue length) per message. A 1,000-job fault run spent most of its 15+ minutes there.
"""

import sys
import threading

from moto.core.utils import unix_time
from moto.dynamodb.responses import DynamoHandler
from moto.server import main
from moto.sqs.models import SQSBackend

_ITEM_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "batch_write_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
    "query",
    "scan",
)
_lock = threading.RLock()


def _serialized(operation):
    def run(self):
        with _lock:
            return operation(self)

    run.__name__ = operation.__name__
    return run


for _name in _ITEM_OPERATIONS:
    setattr(DynamoHandler, _name, _serialized(getattr(DynamoHandler, _name)))


def _within_retention(self, queue_name, message):
    """moto's own rule (sent time + MessageRetentionPeriod), without the attribute scan."""
    period = int(self.get_queue(queue_name).message_retention_period)
    return period + message.sent_timestamp / 1000 > unix_time()


SQSBackend.is_message_valid_based_on_retention_period = _within_retention

if __name__ == "__main__":
    sys.exit(main())
