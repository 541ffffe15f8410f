"""Init time of each function binary, as Lambda's cold start sees it: from spawning the process to
its first `GET /2018-06-01/runtime/invocation/next` on a Lambda Runtime API stand-in.

usage: init_times.py BIN_DIR ROUNDS TEMPLATE

Measures every `Binary:` that TEMPLATE (template.yaml) builds, and the two floors built as
examples (`hello_http`: lambda_http alone; `hello_dynamodb`: plus the SDK's config and one
DynamoDB client). Each round runs every binary once, in a fresh random order, so drift on the
machine spreads evenly. Prints the median and 90th percentile per binary and each median's ratio
to the two floors. Nothing is invoked and nothing leaves the machine: the stand-in never answers
`/next`, and the process is killed once it has asked.
"""

import http.server
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

NEXT = "/2018-06-01/runtime/invocation/next"
FLOORS = ["hello_http", "hello_dynamodb"]


class StandIn(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.asked = threading.Event()
        self.asked_at = None
        self.release = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == NEXT and not self.server.asked.is_set():
            self.server.asked_at = time.perf_counter()
            self.server.asked.set()
        # Never answered: the process is killed while it waits, as a frozen sandbox would be.
        self.server.release.wait(10)

    def log_message(self, *args):
        pass


def lambda_env(port, name):
    """What Lambda's environment gives a function, with the stack's variables and no endpoint."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "init-times",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAINITTIMES",
        "AWS_SECRET_ACCESS_KEY": "init-times",
        "AWS_SESSION_TOKEN": "init-times",
        "TABLE_NAME": "inbox-contacts",
        "BUCKET_NAME": "inbox-contacts-data",
        "EVENT_BUS_NAME": "inbox-contacts",
        "CRM_KEY_ID": "alias/inbox-contacts-crm",
        "RUST_LOG": "info",
    }
    for queue in ["MATCH", "PURGE", "EXPORT", "CRM", "PARKED_EVENTS"]:
        env[f"{queue}_QUEUE_URL"] = (
            f"https://sqs.us-east-1.amazonaws.com/000000000000/{queue.lower()}"
        )
    return env


def time_one(path, name):
    server = StandIn()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = lambda_env(server.server_address[1], name)
    started = time.perf_counter()
    child = subprocess.Popen(
        [path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        if not server.asked.wait(30):
            child.kill()
            _, err = child.communicate()
            sys.exit(f"{name} never asked for an invocation:\n{err.decode()[-2000:]}")
        return (server.asked_at - started) * 1000
    finally:
        child.kill()
        child.communicate()
        server.release.set()
        server.shutdown()
        server.server_close()


def main():
    bin_dir, rounds, template = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(template) as f:
        functions = re.findall(r"^\s+Binary:\s*(\S+)\s*$", f.read(), re.MULTILINE)
    paths = {name: os.path.join(bin_dir, name) for name in functions}
    paths.update({name: os.path.join(bin_dir, "examples", name) for name in FLOORS})
    times = {name: [] for name in paths}
    for _ in range(rounds):
        order = list(paths)
        random.shuffle(order)
        for name in order:
            times[name].append(time_one(paths[name], name))

    median = {name: statistics.median(t) for name, t in times.items()}
    p90 = {name: sorted(t)[max(0, round(0.9 * len(t)) - 1)] for name, t in times.items()}
    print(f"spawn -> first /next, {rounds} runs each (ms)")
    print(f"{'binary':<20}{'median':>8}{'p90':>8}{'÷ sdk hello':>13}{'÷ hello':>9}")
    for name in FLOORS + sorted(functions):
        print(
            f"{name:<20}{median[name]:>8.2f}{p90[name]:>8.2f}"
            f"{median[name] / median['hello_dynamodb']:>12.2f}×"
            f"{median[name] / median['hello_http']:>8.2f}×"
        )
    functions_median = statistics.median(median[name] for name in functions)
    print(
        f"functions' median: {functions_median:.2f} ms = "
        f"{functions_median / median['hello_dynamodb']:.2f}× the SDK hello, "
        f"{functions_median / median['hello_http']:.2f}× the hello"
    )


if __name__ == "__main__":
    main()
