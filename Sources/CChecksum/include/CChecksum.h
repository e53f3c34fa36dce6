#ifndef JOURNEY_CCHECKSUM_H
#define JOURNEY_CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// Nonzero when this CPU computes CRC-32C in hardware (x86-64 with SSE 4.2); set once, when
/// the program is loaded.
extern int journey_crc32c_hardware;

/// `journey_crc32c_hardware`, read through a function (a C global read from Swift is a mutable
/// global; this is a plain load of a value written once, before `main`).
static inline __attribute__((always_inline)) int journey_crc32c_has_hardware(void) {
    return journey_crc32c_hardware;
}

/// Advances the CRC-32C register `crc` over `count` bytes at `bytes` with the CPU's CRC-32C
/// instruction (the same reflected Castagnoli polynomial, 0x82F63B78, as the table-driven code;
/// no initial or final inversion: the caller does those). Call it only when
/// `journey_crc32c_hardware` is nonzero. Swift has no spelling for these instructions.
uint32_t journey_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif
