// CDigests: SHA-256 block compression with the x86 SHA extensions (SHA-NI), which most x86 processors
// since 2017 have (AMD Zen, Intel Ice Lake and later): five to ten times the speed of plain code.
// Digests.SHA256 calls it when the processor has them and compresses in Swift otherwise.
#ifndef CDIGESTS_H
#define CDIGESTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// SHA-256's 64 round constants (for the Swift rounds too, so that there is one table).
const uint32_t *cdg_sha256_round_constants(void);

/// Whether this processor has the SHA extensions (and the SSSE3 and SSE4.1 they come with).
int cdg_sha256_accelerated(void);

/// Compresses `blocks` 64-byte blocks of `data` into `state` (a, b, …, h). Call only when
/// cdg_sha256_accelerated() says 1.
void cdg_sha256_compress(uint32_t state[8], const uint8_t *data, size_t blocks);

#ifdef __cplusplus
}
#endif

#endif
