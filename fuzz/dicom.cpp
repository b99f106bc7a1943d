// libFuzzer target: DICOM decoding (CDicom over GDCM), under AddressSanitizer, in this process.
//
// The program decodes DICOM in helper processes because Debian's GDCM is built with assertions on
// and abort()s on some malformed files; that abort is contained there and reported as "GDCM crashed
// reading it". Here an abort from inside GDCM is likewise contained (a SIGABRT handler jumps back and
// the input counts as refused) and counted, so that the fuzzer looks for what is not contained:
// memory errors (ASan), other signals, hangs. Run with -handle_abrt=0 (scripts/fuzz does).
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cdicom.h"

static sigjmp_buf contained;
static unsigned long aborts = 0;

static void on_abort(int) { siglongjmp(contained, 1); }

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  std::signal(SIGABRT, on_abort);
  std::atexit([] { std::fprintf(stderr, "GDCM aborts contained: %lu\n", aborts); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (sigsetjmp(contained, 1)) {
    ++aborts;
    std::signal(SIGABRT, on_abort);
    return 0;
  }
  cdcm_image image;
  char error[512];
  if (cdcm_decode(data, size, 100000000, &image, error, sizeof error) == 0) {
    cdcm_free(image.values);
    cdcm_free(image.lut);
  }
  return 0;
}
