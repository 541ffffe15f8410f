"""moto's server (DynamoDB, S3 and SQS on one port) with DynamoDB requests taken one at a time.

moto's TransactWriteItems deep-copies the whole table to roll back on failure; in moto's
threaded server that copy races with writes served on other threads and fails with a 500.
Real DynamoDB has no such limit, so the tests keep their concurrency and only the local stand-in
is serialised. S3 and SQS (including SQS long polls) stay concurrent.

A table's stream is kept the way DynamoDB keeps it (see `keep_streams_committed`).

Usage: moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard
from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

HOST, PORT = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(PORT))



def keep_streams_committed():
    """moto rolls a failed transaction back by restoring deep copies of the tables it touched.
    Copying a table's stream shard too grows slower with every record, and the restored table
    would write to a new shard that open shard iterators never read. So the shard is shared,
    and a rollback cuts it back to where it stood: the stream holds committed changes only, as
    DynamoDB's does."""
    StreamShard.__deepcopy__ = lambda self, memo: self
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        shards = [
            (table.name, table.stream_shard, len(table.stream_shard.items))
            for table in self.tables.values()
            if table.stream_shard is not None
        ]
        try:
            return transact(self, transact_items)
        except Exception:
            for name, shard, length in shards:
                del shard.items[length:]
                if name in self.tables:
                    shard.table = self.tables[name]
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


keep_streams_committed()
app = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def serialise_dynamodb(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with dynamodb:
            return list(app(environ, start_response))
    return app(environ, start_response)


run_simple(HOST, PORT, serialise_dynamodb, threaded=True, request_handler=MotoRequestHandler)
