// CRC-32C with the CPU's own instruction: eight bytes per instruction, where the table-driven
// code spends about forty instructions on them. Detected at load time; without it the callers
// use their tables.
#include "CChecksum.h"

#include <string.h>

int journey_crc32c_hardware = 0;

#if defined(__x86_64__)

__attribute__((constructor)) static void journey_crc32c_detect(void) {
    __builtin_cpu_init();
    journey_crc32c_hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t journey_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    uint64_t c = crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);  // an unaligned load
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        count -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (count > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p += 1;
        count -= 1;
    }
    return c32;
}

#else

// Other CPUs: journey_crc32c_hardware stays 0, the callers use their tables, and this is never
// called.
uint32_t journey_crc32c_update(uint32_t crc, const void *bytes, size_t count) {
    (void)bytes;
    (void)count;
    return crc;
}

#endif
