#!/usr/bin/env python3
"""The Lambda backend against two real implementations of the Lambda API:

- moto's server (its Lambda without Docker): `fanbench lambda deploy` creates one function per
  size (boto3's list_functions agrees), a second deploy changes only what differs, remove deletes
  them, and a run against moto's canned Invoke (it echoes the event) ends with one clear line.
- `fanbench lambda serve`: boto3's own client invokes it with the right keys (200, a REPORT line in
  the log tail) and is refused with a wrong secret (403 InvalidSignatureException); `fanbench run
  --workers lambda` of the seed plan completes with exact counts and billed durations from REPORT
  lines.

Usage: lambda_backend_test.py FANBENCH_BIN TARGET_STATE_DIR (a local target that is up).
"""
import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import zipfile

import boto3
import botocore

FANBENCH = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/fanbench"
STATE = sys.argv[2] if len(sys.argv) > 2 else ".fanbench"
ROLE = "arn:aws:iam::123456789012:role/fanbench-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {seconds} s")


def fanbench(*args, env=None, timeout=600):
    return subprocess.run([FANBENCH, *args], capture_output=True, text=True, env=env, timeout=timeout)


class MotoControlPlane(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(cls.port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(cls.port, cls.moto)
        cls.endpoint = f"http://127.0.0.1:{cls.port}"
        request = urllib.request.Request(cls.endpoint + "/moto-api/config", method="POST",
                                         data=json.dumps({"lambda": {"use_docker": False}}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).read()
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        cls.env.pop("AWS_PROFILE", None)
        session = dict(endpoint_url=cls.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        cls.iam = boto3.client("iam", **session)
        cls.iam.create_role(RoleName="fanbench-test", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        cls.lam = boto3.client("lambda", **session)
        cls.dir = tempfile.mkdtemp(prefix="fanbench-lambda-test.")
        # Any zip does for the control plane (moto does not run it): one with a bootstrap script.
        cls.zip = os.path.join(cls.dir, "package.zip")
        with zipfile.ZipFile(cls.zip, "w") as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o755 << 16
            z.writestr(info, "#!/bin/sh\nexit 1\n")

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait(10)

    def deploy(self, sizes, zip_path=None):
        r = fanbench("lambda", "deploy", "--name-prefix", "fbt", "--sizes", sizes, "--role", ROLE, "--zip", zip_path or self.zip,
                     "--lambda-endpoint", self.endpoint, "--bucket", "fanbench-seed", env=self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def functions(self):
        return {f["FunctionName"]: f for f in self.lam.list_functions()["Functions"] if f["FunctionName"].startswith("fbt-")}

    def test_deploy_update_remove_and_a_run_on_a_canned_invoke(self):
        out = self.deploy("512,1024")
        self.assertIn("created fbt-512", out)
        self.assertIn("created fbt-1024", out)
        listed = self.functions()
        self.assertEqual({n: f["MemorySize"] for n, f in listed.items()}, {"fbt-512": 512, "fbt-1024": 1024})
        for f in listed.values():
            self.assertEqual(f["Runtime"], "provided.al2023")
            self.assertEqual(f["Handler"], "bootstrap")
            self.assertEqual(f["Environment"]["Variables"], {"FANBENCH_BUCKET": "fanbench-seed"})  # never a secret

        # Nothing changed: nothing is updated.
        before = {n: f["LastModified"] for n, f in self.functions().items()}
        time.sleep(1.1)
        out = self.deploy("512,1024")
        self.assertIn("fbt-512 is up to date", out)
        self.assertIn("fbt-1024 is up to date", out)
        self.assertEqual({n: f["LastModified"] for n, f in self.functions().items()}, before)

        # One size changed (1024 → 2048) and the functions drifted (timeouts changed by hand):
        # only the asked sizes are touched — fbt-512 mended, fbt-2048 made, fbt-1024 (not asked) left as it is.
        self.lam.update_function_configuration(FunctionName="fbt-512", Timeout=10)
        self.lam.update_function_configuration(FunctionName="fbt-1024", Timeout=10)
        out = self.deploy("512,2048")
        self.assertIn("updated fbt-512: timeout 10 → 300 s", out)
        self.assertIn("created fbt-2048", out)
        self.assertNotIn("fbt-1024", out)
        self.assertIn("2 function(s): 1 created, 1 updated, 0 unchanged", out)
        after = self.functions()
        self.assertEqual(after["fbt-512"]["Timeout"], 300)
        self.assertEqual(after["fbt-1024"]["Timeout"], 10)
        self.assertEqual(after["fbt-2048"]["MemorySize"], 2048)
        self.assertEqual(after["fbt-512"]["CodeSha256"], after["fbt-2048"]["CodeSha256"])

        # New code: only the code is uploaded again, for every function.
        other = os.path.join(self.dir, "other.zip")
        with zipfile.ZipFile(other, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\nexit 2\n")
        out = self.deploy("512", zip_path=other)
        self.assertIn("updated fbt-512: code", out)

        # A run against moto's canned Invoke (it echoes the payload): one line says why it stopped.
        r = fanbench("run", "--state-dir", STATE, "--workers", "lambda", "--function-prefix", "fbt", "--sizes", "512",
                     "--strategies", "serial", "--invocations", "2", "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertIn("fbt-512 is not a fanbench worker", lines[-1])
        self.assertIn("moto", lines[-1])
        self.assertNotIn("Traceback", r.stderr)
        self.assertNotIn("Fatal error", r.stderr)

        r = fanbench("lambda", "remove", "--name-prefix", "fbt", "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed 3 function(s)", r.stdout)
        self.assertEqual(self.functions(), {})

    def test_a_package_over_50_mb_goes_through_s3(self):
        big = os.path.join(self.dir, "big.zip")
        with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
            z.writestr("lib/filler", os.urandom(51 << 20))
        r = fanbench("lambda", "deploy", "--name-prefix", "fbbig", "--sizes", "1024", "--role", ROLE, "--zip", big,
                     "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--code-bucket", r.stderr)
        session = dict(endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        s3 = boto3.client("s3", **session)
        s3.create_bucket(Bucket="fanbench-code")
        env = dict(self.env, AWS_ENDPOINT_URL_S3=self.endpoint)
        r = fanbench("lambda", "deploy", "--name-prefix", "fbbig", "--sizes", "1024", "--role", ROLE, "--zip", big,
                     "--code-bucket", "fanbench-code", "--lambda-endpoint", self.endpoint, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("uploaded the package", r.stdout)
        with open(big, "rb") as f:
            data = f.read()
        key = "fanbench/lambda/" + hashlib.sha256(data).hexdigest() + ".zip"
        self.assertEqual(s3.head_object(Bucket="fanbench-code", Key=key)["ContentLength"], len(data))
        f = self.lam.get_function_configuration(FunctionName="fbbig-1024")
        self.assertEqual(f["CodeSha256"], base64.b64encode(hashlib.sha256(data).digest()).decode())
        # Deployed again from S3: the code is the same, so nothing changes.
        r = fanbench("lambda", "deploy", "--name-prefix", "fbbig", "--sizes", "1024", "--role", ROLE, "--zip", big,
                     "--code-bucket", "fanbench-code", "--lambda-endpoint", self.endpoint, env=env)
        self.assertIn("fbbig-1024 is up to date", r.stdout)
        fanbench("lambda", "remove", "--name-prefix", "fbbig", "--lambda-endpoint", self.endpoint, env=self.env)

    def test_bad_input_is_one_line(self):
        r = fanbench("lambda", "deploy", "--name-prefix", "fbt", "--role", "not-an-arn", "--zip", self.zip,
                     "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not an IAM role ARN", r.stderr)
        r = fanbench("lambda", "deploy", "--name-prefix", "bad name", "--role", ROLE, "--zip", self.zip,
                     "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a Lambda function name prefix", r.stderr)
        r = fanbench("lambda", "deploy", "--name-prefix", "fbt", "--role", ROLE, "--zip", "/nonexistent.zip",
                     "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("fanbench lambda package", r.stderr)
        r = fanbench("lambda", "deploy", "--name-prefix", "fbt", "--role", "arn:aws:iam::123456789012:role/missing",
                     "--zip", self.zip, "--sizes", "128", "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot be assumed", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class LocalInvokeEndpoint(unittest.TestCase):
    """`fanbench lambda serve` backed by the Runtime API executor, against the local target."""

    @classmethod
    def setUpClass(cls):
        env_text = fanbench("target", "env", "--state-dir", STATE).stdout
        cls.keys = {}
        for line in env_text.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                cls.keys[k] = v.strip("'\"")
        cls.port = free_port()
        cls.endpoint = f"http://127.0.0.1:{cls.port}"
        env = dict(os.environ)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            env.pop(k, None)
        cls.env = env
        cls.serve = subprocess.Popen([FANBENCH, "lambda", "serve", "--state-dir", STATE, "--listen", f"127.0.0.1:{cls.port}",
                                      "--name-prefix", "fbs", "--sizes", "512,1024", "--concurrency", "2"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        first = cls.serve.stdout.readline()
        if "serving Invoke" not in first:
            raise RuntimeError("lambda serve did not start: " + first + cls.serve.stderr.read())

    @classmethod
    def tearDownClass(cls):
        cls.serve.terminate()
        cls.serve.wait(30)

    def client(self, secret=None):
        return boto3.client("lambda", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.keys["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=secret or self.keys["AWS_SECRET_ACCESS_KEY"],
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    def test_boto3_invokes_with_the_right_keys_and_is_refused_with_a_wrong_secret(self):
        r = self.client().invoke(FunctionName="fbs-512", Payload=b'{"not": "an event"}', LogType="Tail")
        self.assertEqual(r["StatusCode"], 200)
        self.assertEqual(r["FunctionError"], "Unhandled")  # the worker says what it was sent is not an event
        self.assertEqual(json.loads(r["Payload"].read())["errorType"], "InvalidEvent")
        log = base64.b64decode(r["LogResult"]).decode()
        self.assertRegex(log, r"REPORT RequestId: [0-9a-f-]+\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\tMemory Size: 512 MB")
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            self.client(secret="not-the-secret").invoke(FunctionName="fbs-512", Payload=b"{}")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        self.assertEqual(refused.exception.response["Error"]["Code"], "InvalidSignatureException")
        with self.assertRaises(botocore.exceptions.ClientError) as missing:
            self.client().invoke(FunctionName="fbs-4096", Payload=b"{}")
        self.assertEqual(missing.exception.response["Error"]["Code"], "ResourceNotFoundException")

    def test_a_function_that_does_not_exist_is_one_line(self):
        r = fanbench("run", "--state-dir", STATE, "--workers", "lambda", "--function-prefix", "nosuch", "--sizes", "512",
                     "--strategies", "serial", "--invocations", "1", "--lambda-endpoint", self.endpoint, env=self.env)
        self.assertEqual(r.returncode, 1, r.stderr)
        last = r.stderr.strip().splitlines()[-1]
        self.assertIn("nosuch-512 does not exist", last)
        self.assertIn("fanbench lambda deploy", last)

    def test_more_in_flight_than_serve_takes_are_throttled_retried_and_counted(self):
        # serve takes 2 at once; 6 Invokes go out together: the others get 429 and are retried.
        out = os.path.join(tempfile.mkdtemp(prefix="fanbench-lambda-run."), "report.json")
        r = fanbench("run", "plans/seed.yaml", "--state-dir", STATE, "--workers", "lambda", "--function-prefix", "fbs",
                     "--sizes", "512", "--strategies", "serial", "--invocations", "6", "--max-concurrency", "6",
                     "--lambda-endpoint", self.endpoint, "--json", out, env=self.env, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        with open(out) as f:
            report = json.load(f)
        self.assertGreater(report["plan"]["backend"]["invoke_throttled"], 0)
        self.assertIn("Invoke retried", r.stdout)
        c = report["configs"][0]
        self.assertEqual((c["invocations"]["count"], c["invocations"]["failed"], c["calls"]["count"]), (6, 0, 600))

    def test_seed_plan_through_the_invoke_endpoint(self):
        out = os.path.join(tempfile.mkdtemp(prefix="fanbench-lambda-run."), "report.json")
        r = fanbench("run", "plans/seed.yaml", "--state-dir", STATE, "--workers", "lambda", "--function-prefix", "fbs",
                     "--sizes", "512,1024", "--invocations", "2", "--max-concurrency", "2", "--lambda-endpoint", self.endpoint,
                     "--json", out, env=self.env, timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        with open(out) as f:
            report = json.load(f)
        backend = report["plan"]["backend"]
        self.assertEqual(backend["kind"], "lambda")
        self.assertFalse(backend["real_lambda"])
        self.assertIn("backend: a Lambda API at " + self.endpoint, r.stdout)
        configs = report["configs"]
        self.assertEqual(len(configs), 6)
        for c in configs:
            self.assertEqual(c["invocations"]["count"], 2, c)
            self.assertEqual(c["invocations"]["failed"], 0, c)
            self.assertEqual(c["invocations"]["errors"], 0, c)
            self.assertEqual(c["calls"]["count"], 2 * 100, c)  # exact: every key of the seed's 100, twice
            self.assertEqual(c["calls"]["errors"], 0, c)
            # Billed durations from the REPORT lines, for every invocation.
            self.assertEqual(c["invocations"]["billed_from_report"], 2, c)
            self.assertGreater(c["max_memory_used_mb"], 0)
            self.assertTrue(c["limits"]["enforced"])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
