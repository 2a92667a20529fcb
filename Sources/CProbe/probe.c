// fanbench's CPU probe: a small interpreter, because the code a Lambda handler spends its CPU
// in is mostly an interpreter's (CPython running boto3: bytecode dispatch, name lookups in
// hash tables keyed by strings, small integer arithmetic, data-dependent branches). A
// hash (SHA-256) would track dedicated instructions (SHA-NI, AES-NI) and a wide core's
// arithmetic, not this. The program: a loop that, per step, looks three names up in a
// 64-slot open-addressed table (FNV-1a over the name, compare, probe on), adds and xors,
// stores one back, and branches on the result — the shape of `x = a + b.c` in CPython.
#include "cprobe.h"
#include <string.h>
#include <time.h>

enum { OP_LOOKUP, OP_ADD, OP_XOR, OP_STORE, OP_BRANCH, OP_STEP, OP_LOOP, OP_END };

typedef struct { const char *key; uint32_t len; int64_t value; } slot;

#define SLOTS 64
#define NAMES 24
#define STEPS 500

static const char *const names[NAMES] = {
    "bucket", "key", "region", "endpoint", "credentials", "signature", "headers", "params",
    "service_model", "operation", "retries", "timeout", "session", "client", "response", "body",
    "status_code", "request_id", "content_length", "etag", "owner", "grants", "permission", "grantee",
};

static uint64_t fnv(const char *s, uint32_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 1099511628211ULL; }
    return h;
}

static slot *find(slot *table, const char *key, uint32_t len) {
    uint64_t i = fnv(key, len) & (SLOTS - 1);
    for (;;) {
        slot *s = &table[i];
        if (s->key == 0) return s;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s;
        i = (i + 1) & (SLOTS - 1);
    }
}

// One step of the program: LOOKUP a, LOOKUP b, ADD, LOOKUP c, XOR, STORE a, BRANCH, STEP.
static const uint8_t program[] = {
    OP_LOOKUP, 0, OP_LOOKUP, 1, OP_ADD, OP_LOOKUP, 2, OP_XOR, OP_STORE, 0, OP_BRANCH, OP_STEP, OP_LOOP, OP_END,
};

uint32_t fanbench_probe_ops_per_round(void) { return STEPS * 9; }

uint64_t fanbench_probe_run(uint64_t seed, uint32_t rounds) {
    slot table[SLOTS];
    uint64_t checksum = seed;
    for (uint32_t r = 0; r < rounds; r++) {
        memset(table, 0, sizeof table);
        for (int n = 0; n < NAMES; n++) {
            slot *s = find(table, names[n], (uint32_t)strlen(names[n]));
            s->key = names[n];
            s->len = (uint32_t)strlen(names[n]);
            s->value = (int64_t)(seed + (uint64_t)n * 2654435761u);
        }
        int64_t stack[8];
        int sp = 0;
        uint32_t step = 0, cursor = (uint32_t)(seed + r);
        const char *chosen[3];
        uint32_t lens[3];
        const uint8_t *pc = program;
        for (int k = 0; k < 3; k++) { chosen[k] = names[(cursor + (uint32_t)k * 7) % NAMES]; lens[k] = (uint32_t)strlen(chosen[k]); }
        for (;;) {
            switch (*pc++) {
            case OP_LOOKUP: { uint8_t which = *pc++; stack[sp++] = find(table, chosen[which], lens[which])->value; break; }
            case OP_ADD: { sp--; stack[sp - 1] += stack[sp]; break; }
            case OP_XOR: { sp--; stack[sp - 1] ^= stack[sp] >> 3; break; }
            case OP_STORE: { uint8_t which = *pc++; find(table, chosen[which], lens[which])->value = stack[--sp] ; sp = 0; break; }
            case OP_BRANCH: {
                int64_t v = find(table, chosen[0], lens[0])->value;
                cursor = (v & 1) ? cursor * 1103515245u + 12345u : cursor ^ (uint32_t)(v >> 7);
                break;
            }
            case OP_STEP:
                for (int k = 0; k < 3; k++) { chosen[k] = names[(cursor >> (k * 5)) % NAMES]; lens[k] = (uint32_t)strlen(chosen[k]); }
                step++;
                break;
            case OP_LOOP:
                if (step < STEPS) pc = program;
                break;
            case OP_END:
                goto done;
            }
        }
    done:
        for (int n = 0; n < SLOTS; n++) checksum = checksum * 31 + (uint64_t)table[n].value;
    }
    return checksum;
}

uint64_t fanbench_thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
