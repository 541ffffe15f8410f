"""moto's server for S3, SQS, KMS and EventBridge (and DynamoDB with LOCAL_AWS=moto), threaded,
on one port.

DynamoDB and its streams run on AWS's DynamoDB Local by default (scripts/lib.sh). Under
LOCAL_AWS=moto nothing serialises moto's DynamoDB: concurrent transactions meet moto's own races
(its TransactWriteItems copies the whole table), which that switch accepts as the cost of running
on moto alone.

Usage: moto_server.py HOST PORT
"""

import os
import sys

from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

HOST, PORT = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(PORT))

run_simple(
    HOST,
    PORT,
    DomainDispatcherApplication(create_backend_app),
    threaded=True,
    request_handler=MotoRequestHandler,
)
