"""moto's server (DynamoDB, S3 and SQS on one port) with DynamoDB requests taken one at a time.

moto's TransactWriteItems deep-copies the whole table to roll back on failure; in moto's
threaded server that copy races with writes served on other threads and fails with a 500.
Real DynamoDB has no such limit, so the tests keep their concurrency and only the local stand-in
is serialised. S3 and SQS (including SQS long polls) stay concurrent.

Usage: moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

HOST, PORT = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(PORT))

app = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def serialise_dynamodb(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with dynamodb:
            return list(app(environ, start_response))
    return app(environ, start_response)


run_simple(HOST, PORT, serialise_dynamodb, threaded=True, request_handler=MotoRequestHandler)
