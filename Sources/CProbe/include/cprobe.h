#ifndef FANBENCH_CPROBE_H
#define FANBENCH_CPROBE_H
#include <stdint.h>

/// Interprets a fixed bytecode program `rounds` times (see probe.c); returns a checksum the
/// caller must use so the work cannot be optimised away. Always compiled at -O2, so debug and
/// release builds of fanbench measure the same code.
uint64_t fanbench_probe_run(uint64_t seed, uint32_t rounds);

/// Bytecodes executed by one round.
uint32_t fanbench_probe_ops_per_round(void);

/// This thread's CPU time, ns (CLOCK_THREAD_CPUTIME_ID).
uint64_t fanbench_thread_cpu_ns(void);

/// A pointer chase over a random cycle of 64-byte nodes filling `kb` KB (an interpreter walking
/// its heap): the live CPU sampler's work (`LiveCPUScale`). NULL when it cannot be allocated.
void *fanbench_chase_new(uint32_t kb);

/// Walks the whole set once (so it is cached, as a running handler's is), then chases for
/// `cpu_ns` of this thread's CPU time; returns M steps per CPU second.
double fanbench_chase_sample(void *chase, uint64_t cpu_ns);

void fanbench_chase_free(void *chase);

#endif
