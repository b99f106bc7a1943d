// libFuzzer target: JPEG decoding (CImageIO over libjpeg-turbo), under AddressSanitizer.
#include <stdlib.h>

#include "cimageio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cio_image image;
  char error[512];
  if (cio_decode_jpeg(data, size, 100000000, &image, error, sizeof error) == 0) cio_free(image.pixels);
  return 0;
}
