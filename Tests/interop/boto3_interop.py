#!/usr/bin/env python3
"""boto3 against the local target: `eval "$(fanbench target env)"` must be all it takes.

usage: boto3_interop.py FANBENCH_BIN STATE_DIR
Seeds a bucket with fanbench, lists it with a boto3 client configured only from the
exported variables, and checks that a wrong secret is refused.
"""
import os, shlex, subprocess, sys

import boto3
from botocore.exceptions import ClientError

fanbench, state = sys.argv[1], sys.argv[2]
passed = failed = 0

def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")

subprocess.run([fanbench, "seed", "--state-dir", state, "--bucket", "interop", "--objects", "25",
                "--prefix", "boto/"], check=True, stdout=subprocess.DEVNULL)
exports = subprocess.run([fanbench, "target", "env", "--state-dir", state], check=True,
                         capture_output=True, text=True).stdout
env = {}
for line in exports.splitlines():
    if line.startswith("export "):
        name, _, value = line[len("export "):].partition("=")
        env[name] = shlex.split(value)[0]
check("target env names endpoint, keys, region and CA",
      {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_CA_BUNDLE"} <= env.keys())
os.environ.update(env)

s3 = boto3.client("s3")  # endpoint, credentials, region and CA from the exported variables only
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="interop", Prefix="boto/")["Contents"]]
check("boto3 lists what fanbench seed wrote", keys == [f"boto/obj-{i:06d}" for i in range(25)], keys[:3])
acl = s3.get_object_acl(Bucket="interop", Key=keys[0])
check("boto3 reads an ACL", len(acl["Grants"]) > 0)

bad = boto3.client("s3", aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key="not-the-secret")
try:
    bad.list_objects_v2(Bucket="interop")
    check("a wrong secret is refused", False, "the call succeeded")
except ClientError as e:
    check("a wrong secret is refused", e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response["Error"])

print(f"boto3 interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
