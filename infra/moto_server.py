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

And it makes `TransactWriteItems` cost what the transaction touches, not the table: moto 5.2
deep-copies every table a transaction names before applying it, to roll back on a cancel, so
a keyed submit got slower as the table grew (median 27-32 ms for the first 50 of 300 submits,
189-235 ms for the last 50). Here the transaction snapshots only the items it names and the
length of the table's stream, and a cancel restores exactly those: same outcome, same stream
records (none for a cancelled transaction), O(items in the transaction).
`infra/moto_server_test.py` holds both behaviours.
"""

import copy
import sys
import threading
import types

import moto
from moto.core.utils import unix_time
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.dynamodb.models.dynamo_type import DynamoType
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

# The patches below rest on moto's internals; the lock (infra/requirements/tools.txt) pins them.
if moto.__version__ != "5.2.5":
    raise SystemExit(f"infra/moto_server.py was written for moto 5.2.5, not {moto.__version__}")


def _deepcopy_except_tables(value, memo=None):
    """moto's models module deep-copies a Table only to roll a transaction back: hand back
    the table itself, and let `_transact_write_items` restore what the transaction touched."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_except_tables)


def _touched(backend, transact_items):
    """(table, hash key, range key, deep copy of the item or None) for each item named."""
    touched = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto refuses it before writing anything
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        attrs = op.get("Item") if op_type == "Put" else op.get("Key")
        if table is None or not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            continue
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                continue
            range_key = DynamoType(attrs[table.range_key_attr])
        try:
            current = table.get_item(hash_key, range_key)
        except Exception:  # an invalid key: moto refuses it before writing anything
            continue
        touched.append((table, hash_key, range_key, copy.deepcopy(current)))
    return touched


def _restore(touched, stream_lengths):
    for table, hash_key, range_key, original in reversed(touched):
        if range_key is None:
            if original is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = original
        else:
            rows = table.items[hash_key]
            if original is None:
                rows.pop(range_key, None)
            else:
                rows[range_key] = original
            if not rows:
                table.items.pop(hash_key, None)
    for shard, length in stream_lengths:
        del shard.items[length:]


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    touched = _touched(self, transact_items)
    streams = {id(t.stream_shard): t.stream_shard for t, *_ in touched if t.stream_shard}
    stream_lengths = [(shard, len(shard.items)) for shard in streams.values()]
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        _restore(touched, stream_lengths)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    sys.exit(main())
