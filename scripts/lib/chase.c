/* A pointer chase over a random cycle of 64-byte nodes, like an interpreter walking its heap:
   how fast this host's CPU gets through a working set, in M steps per CPU second. The cycle and
   the sampler are fanbench's own (Sources/CProbe/chase.c, the live CPU scale's), compiled in
   here; shared by scripts/bench-throttle-cache and scripts/bench-live-probe. Build:
   cc -O2 -I Sources/CProbe/include scripts/lib/chase.c
     chase KB STEPS   its set warmed first, STEPS steps timed; prints "M_steps_per_cpu_s bit"
     chase KB sample  fanbench's sample (set warmed, 5 ms of CPU) every 250 ms; a line "epoch_s M/s" each
     chase KB stream  without pause; a line "epoch_s M/s" each wall second (in a capped group:
                      what its slices get done) */
#include "../../Sources/CProbe/chase.c"
#include "../../Sources/CProbe/probe.c"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static double clk(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc != 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: chase KB STEPS|sample|stream\n");
        return 64;
    }
    int sample = strcmp(argv[2], "sample") == 0, stream = strcmp(argv[2], "stream") == 0;
    long steps = (sample || stream) ? 0 : atol(argv[2]);
    if (!sample && !stream && steps <= 0) { fprintf(stderr, "chase: STEPS is a positive number, sample or stream\n"); return 64; }
    chase *c = fanbench_chase_new((uint32_t)atol(argv[1]));
    if (!c) { fprintf(stderr, "chase: cannot allocate a %s KB set\n", argv[1]); return 1; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sample) {
        for (;;) {
            double speed = fanbench_chase_sample(c, 5000000);
            printf("%.3f %.2f\n", clk(CLOCK_REALTIME), speed);
            usleep(250000);
        }
    }
    node *p = c->at;
    uint64_t acc = 0; volatile uint64_t sink;
    if (!stream) {
        for (size_t i = 0; i < c->n; i++) p = p->next;  /* warm: the free run starts with its set cached */
        double t0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        for (long k = 0; k < steps; k++) { acc += p->v[0] ^ (acc >> 3); p = p->next; }
        double t = clk(CLOCK_PROCESS_CPUTIME_ID) - t0;
        printf("%.2f %d\n", steps / t / 1e6, (int)(acc & 1));
        return 0;
    }
    for (;;) {
        double w0 = clk(CLOCK_REALTIME), c0 = clk(CLOCK_THREAD_CPUTIME_ID); long k = 0;
        while (clk(CLOCK_REALTIME) - w0 < 1.0) {
            for (int j = 0; j < 1000; j++) { acc += p->v[0] ^ (acc >> 3); p = p->next; }
            k += 1000; sink = acc;
        }
        printf("%.3f %.2f\n", clk(CLOCK_REALTIME), k / (clk(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e6);
    }
}
