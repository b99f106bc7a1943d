// libFuzzer target: DICOM decoding (CDicom over GDCM), in this process, as a decoder process runs it.
//
// The program decodes DICOM in helper processes because Debian's GDCM is built with assertions on
// and abort()s on some malformed files, and because GDCM allocates what a header declares; there an
// abort is contained (reported as "GDCM crashed reading it") and memory is bounded (RLIMIT_AS). This
// target does the same in-process: an abort from inside GDCM jumps back and counts as a refusal (its
// memory stays leaked, a few MB at most), and each input may take four times its size and 256 MB of
// address space more than the process had, as when parsing in a decoder. So the fuzzer looks for what
// is not contained: other signals (SIGSEGV, SIGBUS, UBSan traps) and hangs. Built without
// AddressSanitizer, which cannot run under an address-space limit (scripts/fuzz builds it so).
#include <csetjmp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <unistd.h>

#include "cdicom.h"

static sigjmp_buf contained;
static unsigned long aborts = 0;

static void on_abort(int) { siglongjmp(contained, 1); }

static size_t address_space() {
  unsigned long pages = 0;
  FILE *statm = std::fopen("/proc/self/statm", "r");
  if (statm) {
    if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

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
  rlimit limit{};
  getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = address_space() + 4 * size + (256ul << 20);
  setrlimit(RLIMIT_AS, &limit);
  cdcm_image image;
  char error[512];
  // A pixel limit of 4 megapixels keeps each decode within the same kind of budget.
  if (cdcm_decode(data, size, 4000000, &image, error, sizeof error) == 0) {
    cdcm_free(image.values);
    cdcm_free(image.lut);
  }
  limit.rlim_cur = RLIM_INFINITY;
  setrlimit(RLIMIT_AS, &limit);
  return 0;
}
