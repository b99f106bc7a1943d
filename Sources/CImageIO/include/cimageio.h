// CImageIO: PNG (libpng; libdeflate for plain greyscale files) and JPEG (libjpeg-turbo) decoding
// and PNG encoding, with every library error turned into a message instead of a longjmp out of Swift
// or an abort.
//
// Decoded pixels are greyscale, row-major, 8 or 16 bits per sample (16-bit samples in native byte
// order). Colour images are converted to grey by the library: PNG with ITU-R BT.709 weights after
// removing alpha over black, JPEG by taking the luminance (Y) channel.
#ifndef CIMAGEIO_H
#define CIMAGEIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t width;
  uint32_t height;
  /// 8 or 16.
  int bit_depth;
  /// Samples per pixel in the file before conversion to grey (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
  int source_channels;
  /// Whether the file used a palette (PNG) or was progressive (JPEG).
  int palette_or_progressive;
  /// width * height samples of bit_depth bits; free with cio_free.
  void *pixels;
} cio_image;

/// Status of a decode refused because the header declares more than `max_pixels` pixels: decided
/// from the header alone, before any pixel is decoded or allocated for.
#define CIO_OVER_PIXEL_LIMIT 2

/// Decodes a PNG held in memory. Returns 0 on success; CIO_OVER_PIXEL_LIMIT, with the declared size
/// in `image` and no pixels, when its header declares more than `max_pixels` pixels (0: no limit);
/// otherwise 1 and a message in `error`.
int cio_decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
                   size_t error_size);

/// cio_decode_png's two halves, for the tests that hold them side by side. The fast path decodes
/// non-interlaced grey and grey + alpha PNGs of 8 or 16 bits (libdeflate, CRCs checked) and returns 1
/// with `image` filled, or 0, having decoded nothing, for any other file and anything it finds
/// wrong; cio_decode_png then hands the file to libpng.
int cio_decode_grey_png_directly(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image);
/// Whether the fast path unfilters runs of 4 to 32 Paeth rows together with AVX2 where the processor
/// has it (on by default); returns the previous setting. For the tests, which compare both ways with
/// libpng.
int cio_set_vector_unfilter(int enabled);
int cio_decode_png_with_libpng(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image,
                               char *error, size_t error_size);

/// Decodes a JPEG held in memory (baseline, extended or progressive; grey or colour), as
/// cio_decode_png does.
int cio_decode_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
                    size_t error_size);

/// Encodes `channels` samples (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) of `bit_depth` (8 or 16) bits per
/// pixel as PNG. With a `palette` of `palette_size` RGB triplets, `pixels` holds one 8-bit palette
/// index per pixel instead (channels 1, bit depth 8). On success `*out` holds `*out_size` bytes to
/// free with cio_free.
int cio_encode_png(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                   const uint8_t *palette, int palette_size, uint8_t **out, size_t *out_size, char *error,
                   size_t error_size);

/// Encodes 8-bit samples (1 grey, 3 RGB) as JPEG of `quality` (1–100), baseline or progressive.
int cio_encode_jpeg(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                    int progressive, uint8_t **out, size_t *out_size, char *error, size_t error_size);

/// Converts a decoded image's samples to floats in [0, 1] (`out` holds width * height floats).
void cio_samples_to_float(const cio_image *image, float *out);

void cio_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
