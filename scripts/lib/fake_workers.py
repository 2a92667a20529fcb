"""N protocol-v1 workers in one process, for benchmarking the coordinator (not a test double
for anything under test: they speak the real protocol over real TCP). Each dials the
coordinator, answers the HMAC challenge, and answers every assignment at once with a result;
it records, per answer, the time from writing the result to reading the next assign: the
coordinator's dispatch latency as a worker sees it.

usage: fake_workers.py HOST PORT N SIZE_MB   (FANBENCH_TOKEN in the environment)
prints one JSON object: {"samples": [...ms...], "workers": N, "results": R}
"""
import asyncio, hashlib, hmac, json, os, sys, time

HOST, PORT, N, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
TOKEN = os.environ["FANBENCH_TOKEN"].encode()
HIST = {"unit": "us", "significant_digits": 3, "counts": [[15000, 90], [16000, 9], [40000, 1]]}

async def worker(i, samples, counts):
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT, limit=64 << 20)
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise SystemExit(f"worker {i}: cannot reach {HOST}:{PORT}")
    async def send(obj):
        writer.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        await writer.drain()
    challenge = json.loads(await reader.readline())
    auth = hmac.new(TOKEN, challenge["nonce"].encode(), hashlib.sha256).hexdigest()
    await send({"type": "hello", "protocol": challenge["protocol"], "worker_id": f"fake-{i}", "version": "bench",
                "size_mb": SIZE, "limits": {"cgroup": "none"}, "auth": auth})
    sent_at = None
    while True:
        line = await reader.readline()
        if not line:
            break
        now = time.perf_counter()
        m = json.loads(line)
        if m["type"] == "assign":
            if sent_at is not None:
                samples.append((now - sent_at) * 1000)
            sent_at = time.perf_counter()
            counts[0] += 1
            await send({"type": "result", "invocation_id": m["invocation_id"], "duration_ms": 1.0, "calls": 100,
                        "errors": {}, "retries": 0, "histogram": HIST, "max_memory_bytes": 50 << 20,
                        "cpu_ms": 5.0, "throttled_ms": 0.0})
        elif m["type"] in ("shutdown", "reject", "error"):
            if m["type"] != "shutdown":
                print(f"worker {i}: {m}", file=sys.stderr)
            break
        # welcome: wait for the first assign
    writer.close()

async def main():
    samples, counts = [], [0]
    await asyncio.gather(*(worker(i, samples, counts) for i in range(N)))
    print(json.dumps({"samples": samples, "workers": N, "results": counts[0]}))

asyncio.run(main())
