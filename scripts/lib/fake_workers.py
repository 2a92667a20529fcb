"""N protocol-v1 workers in one process, for benchmarking the coordinator (not a test double
for anything under test: they speak the real protocol over real TCP). Each dials the
coordinator, answers the HMAC challenge, and answers every assignment at once with a result;
it records, per answer, the time from writing the result to reading the next assign: the
coordinator's dispatch latency as a worker sees it.

usage: fake_workers.py HOST PORT N SIZE_MB [--first-id K] [--realistic SEED] [--dial-timeout S]
  --first-id K       worker ids start at fake-K (several processes share one coordinator)
  --realistic SEED   each result carries what a real worker's would for its keys: one call per
                     key, a histogram of that many latencies around 16 ms (distinct buckets),
                     the calls' spans, the worker's overhead, a varying duration and CPU
(FANBENCH_TOKEN in the environment)
prints one JSON object: {"samples": [...ms...], "workers": N, "results": R, "keys": K,
"first_assign_at": unix seconds of the first assign any of them read (null if none)}
"""
import argparse, asyncio, hashlib, hmac, json, os, random, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("host"); ap.add_argument("port", type=int); ap.add_argument("n", type=int); ap.add_argument("size", type=int)
ap.add_argument("--first-id", type=int, default=0)
ap.add_argument("--realistic", type=int, default=None)
ap.add_argument("--dial-timeout", type=float, default=900, help="seconds to keep dialling (the coordinator listens once it has listed)")
args = ap.parse_args()
TOKEN = os.environ["FANBENCH_TOKEN"].encode()
HIST = {"unit": "us", "significant_digits": 3, "counts": [[15000, 90], [16000, 9], [40000, 1]]}
rng = random.Random(args.realistic)


def result_for(m, keys):
    if args.realistic is None:
        return {"type": "result", "invocation_id": m["invocation_id"], "duration_ms": 1.0, "calls": 100,
                "errors": {}, "retries": 0, "histogram": HIST, "max_memory_bytes": 50 << 20,
                "cpu_ms": 5.0, "throttled_ms": 0.0}
    n = len(keys)
    latencies = sorted(int(rng.lognormvariate(9.68, 0.2)) for _ in range(n))  # µs, median ~16 ms
    counts = {}
    for v in latencies:
        v = v - v % 16  # the histogram's 3-digit buckets at this range
        counts[v] = counts.get(v, 0) + 1
    spans, t = [], 0
    for v in latencies:
        spans.append([t, t + v]); t += v
    return {"type": "result", "invocation_id": m["invocation_id"], "duration_ms": t / 1000 + rng.random(),
            "calls": n, "errors": {}, "retries": 0,
            "histogram": {"unit": "us", "significant_digits": 3, "counts": [[v, c] for v, c in sorted(counts.items())]},
            "max_memory_bytes": (40 << 20) + rng.randrange(1 << 20), "cpu_ms": 0.15 * n + rng.random(),
            "throttled_ms": 0.0, "call_spans_us": spans, "worker_overhead_us": [rng.randrange(50, 400), rng.randrange(20, 200)]}


async def worker(i, samples, counts, first):
    deadline = time.monotonic() + args.dial_timeout
    while True:
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port, limit=64 << 20)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {i}: cannot reach {args.host}:{args.port} within {args.dial_timeout:.0f} s")
            await asyncio.sleep(0.05)
    async def send(obj):
        writer.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        await writer.drain()
    challenge = json.loads(await reader.readline())
    auth = hmac.new(TOKEN, challenge["nonce"].encode(), hashlib.sha256).hexdigest()
    await send({"type": "hello", "protocol": challenge["protocol"], "worker_id": f"fake-{i}", "version": "bench",
                "size_mb": args.size, "limits": {"cgroup": "none"}, "auth": auth})
    sent_at = None
    while True:
        line = await reader.readline()
        if not line:
            break
        now = time.perf_counter()
        m = json.loads(line)
        if m["type"] == "assign":
            if first[0] is None:
                first[0] = time.time()
            keys = m.get("keys") or []
            for _ in range(m.get("key_chunks") or 0):
                keys += json.loads(await reader.readline())["keys"]
            if sent_at is not None:
                samples.append((now - sent_at) * 1000)
            counts[0] += 1
            counts[1] += len(keys)
            out = result_for(m, keys)
            sent_at = time.perf_counter()
            await send(out)
        elif m["type"] in ("shutdown", "reject", "error"):
            if m["type"] != "shutdown":
                print(f"worker {i}: {m}", file=sys.stderr)
            break
        # welcome: wait for the first assign
    writer.close()


async def main():
    samples, counts, first = [], [0, 0], [None]
    await asyncio.gather(*(worker(args.first_id + i, samples, counts, first) for i in range(args.n)))
    print(json.dumps({"samples": samples, "workers": args.n, "results": counts[0], "keys": counts[1], "first_assign_at": first[0]}))

asyncio.run(main())
