#ifndef JOURNEY_CPREFETCH_H
#define JOURNEY_CPREFETCH_H

/// Asks the CPU to start loading the cache line holding `address`, for reading, without
/// waiting for it. A hint only: any address may be passed, none is dereferenced, and nothing
/// changes but timing. Swift has no spelling for the prefetch instruction; this is its only use
/// of C.
static inline __attribute__((always_inline)) void journey_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
