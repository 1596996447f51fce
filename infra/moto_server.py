"""moto server, with DynamoDB's per-item atomicity restored.

moto serves requests on many threads and evaluates a DynamoDB condition expression and then
applies the write as two steps, so two concurrent conditional writes to one item can both
succeed (measured: 2 of 20 concurrent `UpdateItem`s with the same condition). DynamoDB
never allows that, and `accepted`'s exactly-once guarantees rest on it. This wrapper takes
one lock around moto's DynamoDB item operations; every other service (SQS long polling
included) stays concurrent. Arguments are moto_server's own.
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

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

if __name__ == "__main__":
    sys.exit(main())
