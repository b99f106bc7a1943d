// libFuzzer target: PNG decoding (CImageIO over libpng), under AddressSanitizer. Run with scripts/fuzz png SECONDS.
//
// Each input is used twice: as a file, decoded as the program decodes one; and, differentially, as
// the scanlines of a well-formed greyscale PNG built around it (valid CRCs and zlib stream, so that
// the mutations reach the fast path's unfilter instead of stopping at a checksum), decoded by the
// fast path and by libpng, which must agree: same pixels, or the fast path declining.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cimageio.h"

static void put32(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)(value >> 24), at[1] = (uint8_t)(value >> 16), at[2] = (uint8_t)(value >> 8), at[3] = (uint8_t)value;
}

static size_t chunk(uint8_t *out, const char *type, const uint8_t *payload, uint32_t length) {
  put32(out, length);
  memcpy(out + 4, type, 4);
  if (length) memcpy(out + 8, payload, length);
  put32(out + 8 + length, (uint32_t)crc32(0, out + 4, 4 + length));
  return 12 + (size_t)length;
}

static void differential(const uint8_t *data, size_t size) {
  if (size < 4) return;
  uint32_t width = 1 + data[0] % 64, height = 1 + data[1] % 64;
  int bit_depth = (data[2] & 1) ? 16 : 8, colour_type = (data[2] & 2) ? 4 : 0;
  size_t pixel_bytes = (size_t)(colour_type == 4 ? 2 : 1) * (bit_depth / 8);
  size_t raw_size = (width * pixel_bytes + 1) * height;
  uint8_t *raw = calloc(raw_size, 1);
  if (size > 4) {
    for (size_t i = 0; i < raw_size; ++i) raw[i] = data[4 + i % (size - 4)];
  }
  // Mostly valid filter bytes, as encoders write them; sometimes not (data[3] decides).
  for (uint32_t y = 0; y < height; ++y) {
    uint8_t *filter = raw + (size_t)y * (width * pixel_bytes + 1);
    if (data[3] & 1) *filter %= 5;
  }
  uLongf compressed_size = compressBound(raw_size);
  uint8_t *png = malloc(compressed_size + 64);
  uint8_t header[13];
  put32(header, width);
  put32(header + 4, height);
  header[8] = (uint8_t)bit_depth, header[9] = (uint8_t)colour_type, header[10] = header[11] = header[12] = 0;
  memcpy(png, "\x89PNG\r\n\x1a\n", 8);
  size_t at = 8 + chunk(png + 8, "IHDR", header, 13);
  uint8_t *stream = malloc(compressed_size);
  compress2(stream, &compressed_size, raw, raw_size, (data[3] >> 1) % 10);
  at += chunk(png + at, "IDAT", stream, (uint32_t)compressed_size);
  at += chunk(png + at, "IEND", NULL, 0);

  cio_image fast, reference;
  char error[512];
  int took = cio_decode_grey_png_directly(png, at, 0, &fast);
  int decoded = cio_decode_png_with_libpng(png, at, 0, &reference, error, sizeof error) == 0;
  if (took) {
    size_t bytes = (size_t)width * height * (bit_depth / 8);
    if (!decoded || reference.width != fast.width || reference.bit_depth != fast.bit_depth ||
        memcmp(reference.pixels, fast.pixels, bytes) != 0) {
      fprintf(stderr, "fast path and libpng disagree (%ux%u, %d bits, colour type %d)%s%s\n", width, height,
              bit_depth, colour_type, decoded ? "" : ": libpng refused it: ", decoded ? "" : error);
      abort();
    }
    cio_free(fast.pixels);
  }
  if (decoded) cio_free(reference.pixels);
  free(stream);
  free(png);
  free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cio_image image;
  char error[512];
  // The default pixel limit: a header claiming more is refused, as in the program.
  if (cio_decode_png(data, size, 100000000, &image, error, sizeof error) == 0) cio_free(image.pixels);
  differential(data, size);
  return 0;
}
