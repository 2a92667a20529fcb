# Sourced by the scripts: repo root, the weed binary, free ports.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# pip may put weed where PATH does not look (a venv's or the user's scripts folder).
if [ -z "${FANBENCH_WEED:-}" ] && ! command -v weed >/dev/null 2>&1; then
  scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  [ -x "$scripts_dir/weed" ] && export FANBENCH_WEED="$scripts_dir/weed"
fi

# free_ports N: N ports p, each with p + 10000 free too (SeaweedFS's gRPC ports), at random.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
want, got = int(sys.argv[1]), []
for _ in range(10000):
    p = random.randrange(20000, 29990)
    if all(abs(p - q) > 1 for q in got) and free(p) and free(p + 10000):
        got.append(p)
        if len(got) == want: break
print(" ".join(map(str, got)))
PY
}
