// libFuzzer target: PNG decoding (CImageIO over libpng), under AddressSanitizer. Run with scripts/fuzz png SECONDS.
#include <stdlib.h>

#include "cimageio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cio_image image;
  char error[512];
  // The default pixel limit: a header claiming more is refused, as in the program.
  if (cio_decode_png(data, size, 100000000, &image, error, sizeof error) == 0) cio_free(image.pixels);
  return 0;
}
