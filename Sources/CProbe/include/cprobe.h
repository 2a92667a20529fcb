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

#endif
