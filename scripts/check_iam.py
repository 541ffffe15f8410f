"""Reads the local runtime's IAM listing (GET /_local/iam) and the usage log every checking
process wrote (LOCAL_IAM_LOG: the runtime, and handler tests that run a function as deployed
through local::testing::services_as) after the tests, and prints, per function, each grant of its
policy in template.yaml with whether a call used it.

Fails when a function was refused a call (its policy lacks something its code does), and, with
--least-privilege (a whole run), when a grant was used by no call: every statement must be
exercised by a test, or be listed below with the reason no function call of ours can show it.

Usage: check_iam.py BASE_URL USAGE_LOG [--least-privilege]
"""

import json
import sys
import urllib.request

# Grants used on a function's behalf, by a caller this runtime cannot see through its clients.
NOT_CALLED_BY_THE_CODE = {
    ("export-contacts", "s3:GetObject"): "the download URLs it presigns are checked against its "
    "role when the admin's browser fetches them",
    ("edit-contact", "s3:GetObject"): "the attachment download URLs it presigns are checked "
    "against its role when the agent's browser fetches them",
}

base, log, least_privilege = sys.argv[1], sys.argv[2], "--least-privilege" in sys.argv[3:]
with urllib.request.urlopen(f"{base}/_local/iam") as response:
    listing = json.load(response)["items"]

def key(grant):
    return (grant["statement"], grant["action"], grant["resource"])

used_elsewhere, denied_elsewhere = {}, {}
try:
    with open(log) as lines:
        for line in lines:
            entry = json.loads(line)
            if "used" in entry:
                used_elsewhere.setdefault(entry["function"], set()).add(key(entry["used"]))
            else:
                denied_elsewhere.setdefault(entry["function"], []).append(entry["denied"])
except FileNotFoundError:
    pass
for function in listing:
    name = function["function"]
    elsewhere = used_elsewhere.get(name, set())
    moved = [g for g in function["unused"] if key(g) in elsewhere]
    function["used"] += moved
    function["unused"] = [g for g in function["unused"] if key(g) not in elsewhere]
    seen = {(d["action"], d["resource"]) for d in function["denied"]}
    function["denied"] += [d for d in denied_elsewhere.get(name, [])
                           if (d["action"], d["resource"]) not in seen]

problems = []
for function in sorted(listing, key=lambda f: f["function"]):
    name = function["function"]
    print(f"  {name}")
    for grant in function["used"]:
        print(f"    used    {grant['action']:32} {grant['resource']}")
    for grant in function["unused"]:
        reason = NOT_CALLED_BY_THE_CODE.get((name, grant["action"]))
        if reason:
            print(f"    outside {grant['action']:32} {grant['resource']}  ({reason})")
        else:
            print(f"    UNUSED  {grant['action']:32} {grant['resource']}")
            if least_privilege:
                problems.append(f"{name}: no test used {grant['action']} on {grant['resource']}")
    for call in function["denied"]:
        print(f"    DENIED  {call['action']:32} {call['resource']}")
        problems.append(f"{name}: its policy does not allow {call['action']} on {call['resource']}")

if problems:
    print("\nIAM problems (fix the function's Policies in template.yaml):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    sys.exit(1)
named = sum(
    1
    for function in listing
    for grant in function["unused"]
    if (function["function"], grant["action"]) in NOT_CALLED_BY_THE_CODE
)
print("IAM: no call refused" + (
    f", every grant used by a test but {named} named above with their reason"
    if least_privilege else ""))
