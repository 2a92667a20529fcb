"""What kubernetes-validate cannot see in a rendered fanbench kustomization (scripts/validate-k8s).

    python3 k8s_invariants.py RENDERED.yaml SECRET_EXAMPLE.env

Checks the Lambda sizing rule on every worker Deployment (requests = limits, CPU = MB / 1769
cores rounded to the nearest millicore, memory = MB Mi, --size-mb MB, label fanbench/size-mb),
that every worker dials the coordinator's Service, that the coordinator's RUN_EXPECT equals the
worker replicas and RUN_SIZES their sizes when both are rendered together, that every $(VAR)
in a container's command and args is defined in its env, and that secret keys are the ones
secret.example.env shows. Prints one summary line (object count and kinds) and exits 0, or
one line per problem and exits 1.
"""

import collections
import math
import re
import sys

import yaml

MB_PER_VCPU = 1769
SECRET_NAME = "fanbench-secrets"
SETTINGS_NAME = "fanbench-settings"


def millicores(mb):
    return math.floor(mb * 1000 / MB_PER_VCPU + 0.5)


def containers(pod_spec):
    return (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or [])


def pod_spec(obj):
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec") or {}
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def arg_value(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def secret_keys(path):
    keys = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
            if m:
                keys.add(m.group(1))
    return keys


TLS_SECRET = "fanbench-tls"


def tls_problems(name, spec, component):
    main = next((c for c in spec.get("containers") or [] if c.get("name") == component), None)
    if main is None:
        return []
    args = [str(a) for a in (main.get("command") or []) + (main.get("args") or [])]
    wanted = ["--tls-cert", "--tls-key"] if component == "coordinator" else ["--tls-ca"]
    problems = []
    mounts = {m.get("name"): m.get("mountPath", "") for m in main.get("volumeMounts") or []}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for flag in wanted:
        path = arg_value(args, flag)
        if path is None:
            problems.append("%s: %s has no %s (the control channel is TLS)" % (name, component, flag))
            continue
        vol = next((v for v, at in mounts.items() if path.startswith(at.rstrip("/") + "/")), None)
        secret = (volumes.get(vol) or {}).get("secret") or {}
        if secret.get("secretName") != TLS_SECRET:
            problems.append("%s: %s %s is not in a mounted Secret %s" % (name, flag, path, TLS_SECRET))
            continue
        item = next((i for i in secret.get("items") or [] if i.get("path") == path.rsplit("/", 1)[-1]), None)
        if secret.get("items") and item is None:
            problems.append("%s: %s %s is not an item of its Secret volume" % (name, flag, path))
        mode = (item or {}).get("mode", secret.get("defaultMode", 0o644))
        if flag == "--tls-key" and mode & 0o007:
            problems.append("%s: --tls-key %s is mode %o, open to every user (fanbench refuses it)" % (name, path, mode))
    return problems


def main(rendered, secret_example):
    with open(rendered) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    problems = [] if objs else ["nothing rendered"]
    allowed_secret_keys = secret_keys(secret_example)
    settings = next((o.get("data") or {} for o in objs
                     if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == SETTINGS_NAME), None)
    services = {o["metadata"]["name"]: [p.get("port") for p in (o.get("spec") or {}).get("ports") or []]
                for o in objs if o.get("kind") == "Service"}

    workers = []  # (name, size MB, replicas)
    for o in objs:
        name = "%s/%s" % (o.get("kind"), o["metadata"]["name"])
        spec = pod_spec(o)
        if spec is None:
            continue
        for c in containers(spec):
            where = "%s container %s" % (name, c.get("name"))
            env = {e.get("name") for e in c.get("env") or []}
            for word in (c.get("command") or []) + (c.get("args") or []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(word)):
                    if var not in env:
                        problems.append("%s: $(%s) is not in its env" % (where, var))
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") == SECRET_NAME and ref.get("key") not in allowed_secret_keys:
                    problems.append("%s: secret key %s is not in %s" % (where, ref.get("key"), secret_example))
                ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("name") == SETTINGS_NAME and settings is not None and ref.get("key") not in settings:
                    problems.append("%s: %s has no key %s" % (where, SETTINGS_NAME, ref.get("key")))

        labels = o["metadata"].get("labels") or {}
        component = labels.get("app.kubernetes.io/component")
        # TLS on the control channel: the coordinator serves fanbench-tls's certificate, every
        # worker trusts its CA, from mounted files, and no key is open to every user.
        if component in ("coordinator", "worker") and o.get("kind") in ("Job", "Deployment"):
            problems += tls_problems(name, spec, component)
        if o.get("kind") != "Deployment" or component != "worker":
            continue
        worker = next((c for c in spec.get("containers") or [] if c.get("name") == "worker"), None)
        if worker is None:
            problems.append("%s: no container named worker" % name)
            continue
        args = [str(a) for a in worker.get("args") or []]
        size = arg_value(args, "--size-mb")
        if size is None or not size.isdigit():
            problems.append("%s: --size-mb is %r, not a whole number of MB" % (name, size))
            continue
        mb = int(size)
        want = {"cpu": "%dm" % millicores(mb), "memory": "%dMi" % mb}
        res = worker.get("resources") or {}
        for part in ("requests", "limits"):
            got = {k: str(v) for k, v in (res.get(part) or {}).items()}
            if got != want:
                problems.append("%s: resources.%s is %s; %d MB needs %s (cpu = MB/1769 cores, memory = MB Mi)"
                                % (name, part, got, mb, want))
        pod_labels = ((o["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        selector = (o["spec"].get("selector") or {}).get("matchLabels") or {}
        for what, ls in (("metadata.labels", labels), ("selector", selector), ("template labels", pod_labels)):
            if ls.get("fanbench/size-mb") != str(mb):
                problems.append("%s: %s fanbench/size-mb is %r, --size-mb is %d" % (name, what, ls.get("fanbench/size-mb"), mb))
        coordinator = arg_value(args, "--coordinator") or ""
        host, _, port = coordinator.rpartition(":")
        if services and (host not in services or not port.isdigit() or int(port) not in services[host]):
            problems.append("%s: dials %r, which is no Service port here (%s)" % (name, coordinator, services))
        workers.append((name, mb, o["spec"].get("replicas", 1)))

    has_coordinator = any(o.get("kind") == "Job" and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "coordinator"
                          for o in objs)
    if has_coordinator:
        if settings is None:
            problems.append("the coordinator is rendered without ConfigMap %s" % SETTINGS_NAME)
        else:
            if not str(settings.get("AWS_ENDPOINT_URL", "")).strip():
                problems.append("%s: AWS_ENDPOINT_URL is empty (fanbench would start its local target)" % SETTINGS_NAME)
            expect = str(settings.get("RUN_EXPECT", ""))
            try:
                sizes = {int(s) for s in str(settings.get("RUN_SIZES", "")).split(",")}
            except ValueError:
                sizes = None
                problems.append("%s: RUN_SIZES %r is not a list of MB" % (SETTINGS_NAME, settings.get("RUN_SIZES")))
            if not expect.isdigit() or int(expect) < 1:
                problems.append("%s: RUN_EXPECT %r is not a whole number ≥ 1" % (SETTINGS_NAME, expect))
            elif workers:
                total = sum(r for _, _, r in workers)
                if int(expect) != total:
                    problems.append("%s: RUN_EXPECT is %s but the worker replicas add up to %d (%s)"
                                    % (SETTINGS_NAME, expect, total, ", ".join("%s ×%d" % (n, r) for n, _, r in workers)))
                if sizes is not None and sizes != {mb for _, mb, _ in workers}:
                    problems.append("%s: RUN_SIZES is %s but the workers are of %s MB"
                                    % (SETTINGS_NAME, sorted(sizes), sorted({mb for _, mb, _ in workers})))

    for p in problems:
        print("  " + p)
    if problems:
        return 1
    kinds = collections.Counter(o.get("kind") for o in objs)
    print("%d object%s (%s)" % (len(objs), "" if len(objs) == 1 else "s", ", ".join("%s %d" % (k, n) for k, n in sorted(kinds.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
