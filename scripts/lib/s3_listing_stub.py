"""A fast S3 stand-in for scale benchmarks (not a test double for anything under test): one
bucket of N synthetic keys, served as ListObjectsV2 pages of 1,000 with continuation tokens,
and HeadObject / GetObjectAcl answered at once. HTTP/1.1 keep-alive on asyncio with hand-rolled
parsing, so a million calls take minutes, not hours. It checks no signature.

usage: s3_listing_stub.py N_KEYS [KEY_BYTES]   prints "listening on PORT", serves until killed
"""
import asyncio, sys, urllib.parse

N = int(sys.argv[1])
KEY_BYTES = int(sys.argv[2]) if len(sys.argv) > 2 else 16
PAGE = 1000

def key(i):
    k = f"k{i:09d}"
    return k + "x" * max(0, KEY_BYTES - len(k))

ACL = (b'<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy><Owner><ID>o</ID></Owner>'
       b'<AccessControlList><Grant><Grantee><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>'
       b'</AccessControlList></AccessControlPolicy>')

def listing(query):
    start = int(query.get("continuation-token", ["0"])[0])
    end = min(N, start + PAGE)
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>big</Name><KeyCount>{end - start}</KeyCount>'
             f'<MaxKeys>{PAGE}</MaxKeys><EncodingType>url</EncodingType><IsTruncated>{"true" if end < N else "false"}</IsTruncated>']
    if end < N:
        parts.append(f"<NextContinuationToken>{end}</NextContinuationToken>")
    parts.extend(f"<Contents><Key>{key(i)}</Key><Size>16</Size></Contents>" for i in range(start, end))
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            method, target, _ = line.split(" ", 2)
            length = 0
            for h in head.split(b"\r\n")[1:]:
                if h[:15].lower() == b"content-length:":
                    length = int(h[15:])
            if length:
                await reader.readexactly(length)
            path, _, qs = target.partition("?")
            query = urllib.parse.parse_qs(qs, keep_blank_values=True)
            if method == "GET" and "list-type" in query:
                body = listing(query)
            elif method == "GET" and "acl" in query:
                body = ACL
            else:
                body = b""
            ctype = b"application/xml" if body else b"application/octet-stream"
            size = len(body) if method != "HEAD" else 16
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: " + str(size).encode()
                         + b"\r\nx-amz-request-id: stub\r\n\r\n" + (body if method != "HEAD" else b""))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=1 << 20, backlog=1024)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
