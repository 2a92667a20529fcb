/* A pointer chase over a random cycle of 64-byte nodes, like an interpreter walking its heap:
   how fast this host's CPU gets through a working set, in M steps per CPU second. Shared by
   scripts/bench-throttle-cache and scripts/bench-live-probe.
     chase KB STEPS   its set warmed first, STEPS steps timed; prints "M_steps_per_cpu_s bit"
     chase KB sample  5 ms of CPU every 250 ms, set warmed each time; a line "epoch_s M/s" each
     chase KB stream  without pause; a line "epoch_s M/s" each wall second (in a capped group:
                      what its slices get done) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct node { struct node *next; uint64_t v[7]; } node;

static double clk(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc != 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: chase KB STEPS|sample|stream\n");
        return 64;
    }
    size_t n = (size_t)atol(argv[1]) * 1024 / sizeof(node);
    int sample = strcmp(argv[2], "sample") == 0, stream = strcmp(argv[2], "stream") == 0;
    long steps = (sample || stream) ? 0 : atol(argv[2]);
    if (!sample && !stream && steps <= 0) { fprintf(stderr, "chase: STEPS is a positive number, sample or stream\n"); return 64; }
    node *a = aligned_alloc(64, n * sizeof(node)); size_t *perm = malloc(n * sizeof(size_t));
    uint64_t s = 88172645463325252ull, acc = 0; volatile uint64_t sink;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; size_t j = s % (i + 1), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    for (size_t i = 0; i < n; i++) { a[perm[i]].next = &a[perm[(i + 1) % n]]; a[perm[i]].v[0] = i; }
    node *p = &a[perm[0]];
    if (!sample && !stream) {
        for (size_t i = 0; i < n; i++) p = p->next;  /* warm: the free run starts with its set cached */
        double t0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        for (long k = 0; k < steps; k++) { acc += p->v[0] ^ (acc >> 3); p = p->next; }
        double t = clk(CLOCK_PROCESS_CPUTIME_ID) - t0;
        printf("%.2f %d\n", steps / t / 1e6, (int)(acc & 1));
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        double w0 = clk(CLOCK_REALTIME);
        if (sample) for (size_t i = 0; i < n; i++) p = p->next;  /* its set warm, as a probe's is */
        double c0 = clk(CLOCK_THREAD_CPUTIME_ID); long k = 0;
        while (sample ? clk(CLOCK_THREAD_CPUTIME_ID) - c0 < 0.005 : clk(CLOCK_REALTIME) - w0 < 1.0) {
            for (int j = 0; j < 1000; j++) { acc += p->v[0] ^ (acc >> 3); p = p->next; }
            k += 1000; sink = acc;
        }
        printf("%.3f %.2f\n", clk(CLOCK_REALTIME), k / (clk(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e6);
        if (sample) usleep(250000);
    }
}
