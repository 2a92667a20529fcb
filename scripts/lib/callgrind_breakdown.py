"""Instructions per call, and where they go, from two callgrind profiles of the same program
that differ only in the number of calls made: (Ir(big) - Ir(small)) / (calls_big - calls_small),
so start-up, warm-up and connection set-up cancel out. Each function's self cost is put in one
bucket by its object file and (mangled) name.

usage: callgrind_breakdown.py SMALL.out BIG.out EXTRA_CALLS [--json]
prints "instructions_per_call N" then one line per bucket: name, instructions per call, share
"""
import json, re, subprocess, sys

# (bucket, test on "object function"), first match wins. Mangled Swift names carry their
# module as <length><name>: 10FanbenchS3, 9Histogram, 7NIOCore …
BUCKETS = [
    ("signing (SigV4: canonical request, SHA-256, HMAC)", re.compile(r"SigV4|CCryptoBoringSSL|6Crypto|sha256|SHA256|HMAC|hmac|Curl_auth_.*sigv4|aws_sigv4|Curl_output_aws_sigv4|Curl_sha256|Curl_hmac", re.I)),
    ("TLS (record layer, AES-GCM)", re.compile(r"libssl|libcrypto|CNIOBoringSSL|6NIOSSL|aes|gcm|chacha|poly1305", re.I)),
    ("XML parsing", re.compile(r"libxml2|S3XML|XMLParser|xml", re.I)),
    ("latency histogram", re.compile(r"9Histogram|CallRecorder")),
    ("HTTP (request, response, headers)", re.compile(r"libcurl|libnghttp|NIOHTTP1|15AsyncHTTPClient|HTTPMessage|HTTPResponse|HTTPRequest|S3RequestPreparer|Curl|curl_|http", re.I)),
    ("scheduling (event loop, tasks, threads, locks)", re.compile(r"8NIOPosix|7NIOCore|NIOConcurrencyHelpers|_Concurrency|swift_task|swift_job|Dispatch|pthread|futex|epoll|__lll_lock|sem_|NIOAsync", re.I)),
    ("Foundation (URL, Data, String bridging)", re.compile(r"Foundation|CoreFoundation|_CF|CF[A-Z]")),
    ("Swift runtime (ARC, allocation, generics, metadata)", re.compile(r"swift_|\$ss|libswiftCore|\$sS[a-zA-Z]")),
    ("libc (malloc, memcpy, syscall wrappers)", re.compile(r"libc\.so|ld-linux|malloc|memcpy|memmove|memset|free|strlen")),
    ("fanbench (the rest of its own code)", re.compile(r"Fanbench|fanbench")),
]

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*?)(?:\s+\[(.+)\])?$")


def buckets(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         check=True, capture_output=True, text=True).stdout
    totals, total, obj, started = {}, 0, "", False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or line.startswith("-"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        ir, fn, o = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
        if o:
            obj = o
        total += ir
        key = f"{obj} {fn}"
        name = next((b for b, rx in BUCKETS if rx.search(key)), "other")
        totals[name] = totals.get(name, 0) + ir
    return total, totals


def main():
    small, big, extra = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t0, b0 = buckets(small)
    t1, b1 = buckets(big)
    per_call = (t1 - t0) / extra
    rows = sorted(((name, (b1.get(name, 0) - b0.get(name, 0)) / extra) for name in set(b0) | set(b1)), key=lambda r: -r[1])
    if "--json" in sys.argv:
        print(json.dumps({"instructions_per_call": per_call, "buckets": dict(rows)}))
        return
    print(f"instructions_per_call {per_call:.0f}")
    for name, v in rows:
        if abs(v) >= 0.5:
            print(f"  {name:<55} {v:>9.0f}  {100 * v / per_call:5.1f}%")


main()
