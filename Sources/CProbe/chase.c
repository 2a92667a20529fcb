// The live CPU sampler's work: a pointer chase over a random cycle of 64-byte nodes, like an
// interpreter walking its heap. A capped 128 MB handler's speed followed this chase's, measured
// unthrottled over the invocation's own seconds, at r −0.80 to −0.87 on this project's VM
// (scripts/bench-live-probe); the interpreter probe's small table, read at run start, did not
// (r +0.02). scripts/lib/chase.c compiles this file in, so its sampler is this one.
#include "cprobe.h"
#include <stdlib.h>
#include <time.h>

typedef struct node { struct node *next; uint64_t v[7]; } node;
typedef struct { node *nodes; size_t n; node *at; uint64_t acc; } chase;

void *fanbench_chase_new(uint32_t kb) {
    size_t n = (size_t)kb * 1024 / sizeof(node);
    if (n < 2) return NULL;
    chase *c = malloc(sizeof *c);
    node *a = aligned_alloc(64, n * sizeof(node));
    size_t *perm = malloc(n * sizeof(size_t));
    if (!c || !a || !perm) { free(c); free(a); free(perm); return NULL; }
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; size_t j = s % (i + 1), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    for (size_t i = 0; i < n; i++) { a[perm[i]].next = &a[perm[(i + 1) % n]]; a[perm[i]].v[0] = i; }
    c->nodes = a; c->n = n; c->at = &a[perm[0]]; c->acc = 0;
    free(perm);
    return c;
}

double fanbench_chase_sample(void *handle, uint64_t cpu_ns) {
    chase *c = handle;
    node *p = c->at;
    uint64_t acc = c->acc;
    for (size_t i = 0; i < c->n; i++) p = p->next;
    uint64_t t0 = fanbench_thread_cpu_ns(), t = t0;
    uint64_t steps = 0;
    while (t - t0 < cpu_ns) {
        for (int j = 0; j < 1000; j++) { acc += p->v[0] ^ (acc >> 3); p = p->next; }
        steps += 1000;
        t = fanbench_thread_cpu_ns();
    }
    c->at = p; c->acc = acc;
    return t > t0 ? (double)steps / (double)(t - t0) * 1000.0 : 0;
}

void fanbench_chase_free(void *handle) {
    chase *c = handle;
    if (!c) return;
    free(c->nodes);
    free(c);
}
