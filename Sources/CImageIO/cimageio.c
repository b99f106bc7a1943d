// libpng and libjpeg-turbo report errors by calling a function that must not return; both let that
// function longjmp back to the caller. The setjmp points live here, in C, so that no longjmp ever
// crosses Swift frames; Swift sees a status and a message.
#include "cimageio.h"

// stdio.h first: jpeglib.h uses FILE without including it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <stddef.h>

#include <jpeglib.h>
#include <libdeflate.h>
#include <png.h>

void cio_free(void *pointer) { free(pointer); }

void cio_samples_to_float(const cio_image *image, float *out) {
  size_t count = (size_t)image->width * image->height;
  if (image->bit_depth == 16) {
    const uint16_t *samples = image->pixels;
    for (size_t i = 0; i < count; ++i) out[i] = samples[i] / 65535.0f;
  } else {
    const uint8_t *samples = image->pixels;
    for (size_t i = 0; i < count; ++i) out[i] = samples[i] / 255.0f;
  }
}

static void set_error(char *error, size_t error_size, const char *message) {
  if (error && error_size > 0) snprintf(error, error_size, "%s", message);
}

// MARK: PNG

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t offset;
  char message[256];
} png_source;

static void png_read_from_memory(png_structp png, png_bytep out, png_size_t count) {
  png_source *source = (png_source *)png_get_io_ptr(png);
  if (count > source->size - source->offset) {
    snprintf(source->message, sizeof source->message, "the file is truncated");
    png_longjmp(png, 1);
  }
  memcpy(out, source->data + source->offset, count);
  source->offset += count;
}

static void png_error_handler(png_structp png, png_const_charp message) {
  png_source *source = (png_source *)png_get_error_ptr(png);
  if (source && source->message[0] == 0) snprintf(source->message, sizeof source->message, "%s", message);
  png_longjmp(png, 1);
}

static void png_warning_handler(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;  // Warnings (such as a bad iCCP chunk) do not stop decoding.
}

// MARK: PNG, the fast path
//
// Chest X-ray sets are greyscale PNGs, and libpng spends most of their decode outside inflation
// (row callbacks, transformations, a scalar unfilter) and inflates with zlib, half as fast as
// libdeflate. This path decodes the common kind itself — not interlaced, grey or grey + alpha, 8 or
// 16 bits — with libdeflate's whole-buffer inflate and CRC-32 and a plain unfilter, and gives the
// same pixels libpng gives (tested on every kind and filter). Anything else, and anything it does
// not understand or finds wrong (a CRC, an unknown critical chunk, a short or long image stream, a
// missing IEND, a size over the limit), goes to libpng, which decodes it or words the error.

static uint32_t read_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// Without branches (`&`, not `&&`): which neighbour wins changes from byte to byte.
static inline uint8_t paeth_predictor(int a, int b, int c) {
  int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
  int nearest_b_or_c = pb <= pc ? b : c;
  return (uint8_t)(((pa <= pb) & (pa <= pc)) ? a : nearest_b_or_c);
}

// Undoes one row's filter in place; `previous` is the row above, unfiltered (zeros for the first).
static int unfilter_row(uint8_t filter, uint8_t *row, const uint8_t *previous, size_t length, size_t pixel_bytes) {
  size_t i;
  switch (filter) {
    case 0:
      return 1;
    case 1:
      for (i = pixel_bytes; i < length; ++i) row[i] = (uint8_t)(row[i] + row[i - pixel_bytes]);
      return 1;
    case 2:
      for (i = 0; i < length; ++i) row[i] = (uint8_t)(row[i] + previous[i]);
      return 1;
    case 3:
      for (i = 0; i < pixel_bytes; ++i) row[i] = (uint8_t)(row[i] + (previous[i] >> 1));
      for (; i < length; ++i) row[i] = (uint8_t)(row[i] + ((row[i - pixel_bytes] + previous[i]) >> 1));
      return 1;
    case 4:
      if (pixel_bytes == 1) {
        // Each byte needs the one before it decoded: one serial chain, kept in registers.
        int left = 0, upper_left = 0;
        for (i = 0; i < length; ++i) {
          int above = previous[i];
          left = (uint8_t)(row[i] + paeth_predictor(left, above, upper_left));
          row[i] = (uint8_t)left;
          upper_left = above;
        }
        return 1;
      }
      for (i = 0; i < pixel_bytes; ++i) row[i] = (uint8_t)(row[i] + previous[i]);
      for (; i < length; ++i) {
        row[i] = (uint8_t)(row[i] + paeth_predictor(row[i - pixel_bytes], previous[i], previous[i - pixel_bytes]));
      }
      return 1;
    default:
      return 0;
  }
}

// Four Paeth rows of one byte per pixel at once: row k+1 runs one column behind row k, so each byte's
// neighbours (left, above, above-left) are decoded by the time it is reached, and the four serial
// chains overlap in the processor instead of waiting on each other (about twice as fast as one row
// after another). `above` is the row above the first, decoded; rows[k]'s above is rows[k - 1].
static void unfilter_four_paeth_rows(uint8_t *const rows[4], const uint8_t *above, size_t length) {
  uint8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
  int l0 = 0, l1 = 0, l2 = 0, l3 = 0, u0 = 0, u1 = 0, u2 = 0, u3 = 0;
#define CIO_PAETH_STEP(row, upper, left, upper_left, x) \
  do {                                                  \
    int up = (upper)[x];                                \
    left = (uint8_t)((row)[x] + paeth_predictor(left, up, upper_left)); \
    (row)[x] = (uint8_t)left;                           \
    upper_left = up;                                    \
  } while (0)
  size_t step = 0;
  for (; step < 3 && step < length + 3; ++step) {  // rows 1 to 3 start one column later each
    if (step < length) CIO_PAETH_STEP(r0, above, l0, u0, step);
    if (step >= 1 && step - 1 < length) CIO_PAETH_STEP(r1, r0, l1, u1, step - 1);
    if (step >= 2 && step - 2 < length) CIO_PAETH_STEP(r2, r1, l2, u2, step - 2);
  }
  for (; step < length; ++step) {  // all four, registers only
    CIO_PAETH_STEP(r0, above, l0, u0, step);
    CIO_PAETH_STEP(r1, r0, l1, u1, step - 1);
    CIO_PAETH_STEP(r2, r1, l2, u2, step - 2);
    CIO_PAETH_STEP(r3, r2, l3, u3, step - 3);
  }
  for (; step < length + 3; ++step) {  // rows 1 to 3 finish
    if (step - 1 < length) CIO_PAETH_STEP(r1, r0, l1, u1, step - 1);
    if (step - 2 < length) CIO_PAETH_STEP(r2, r1, l2, u2, step - 2);
    if (step >= 3 && step - 3 < length) CIO_PAETH_STEP(r3, r2, l3, u3, step - 3);
  }
#undef CIO_PAETH_STEP
}

// Up to 32 Paeth rows of one byte per pixel at once, in the bytes of one AVX2 register: lane k
// decodes row k, one column behind row k - 1 (a wavefront), so that at each step lane k's neighbours
// are in registers: left is its own last result, above is lane k - 1's last result, above-left lane
// k - 1's result before that (lane 0 takes them from the row above the band). The predictor in bytes:
// pa = |b - c| and pb = |a - c| from unsigned maxima and minima; pc = |(a - c) + (b - c)| is pa + pb
// where a and b lie on the same side of c and |pa - pb| where not, saturated at 255, which keeps its
// order against pa and pb (checked against the definition for all 2^24 triples when written; the
// tests compare every fixture and X-ray with libpng). The rows are copied into a scratch area with
// zero margins, so that columns before the first give the zeros the filter assumes there and no load
// or store needs a bounds check; each chunk of 16 steps loads 16 bytes of every row (skewed by its
// lag), transposes them into the 16 steps' inputs, and transposes the results back. Six times as fast
// as unfilter_four_paeth_rows by perf's samples in the loader (docs/benchmarks.md). A band of fewer
// rows costs about as much as a full one and still wins from 4 rows on (from 2 it lost): X-ray PNGs
// interleave Paeth with other filters (in the train split 91% of rows are Paeth, 57% of those in runs
// of 32 or more, 36% in runs of 4 to 31).
enum { CIO_BAND_ROWS = 32, CIO_BAND_MIN_ROWS = 4, CIO_BAND_MARGIN_LEFT = 32, CIO_BAND_MARGIN_RIGHT = 64 };

static int vector_unfilter_enabled = 1;  // read by the loader's threads: atomic loads and stores

int cio_set_vector_unfilter(int enabled) {
  return __atomic_exchange_n(&vector_unfilter_enabled, enabled, __ATOMIC_RELAXED);
}

#if defined(__x86_64__)
#include <cresampling.h>
#include <immintrin.h>

// CResampling's processor check (CPUID and the operating system's saving of the vector registers),
// done once.
static int uses_vector_unfilter(void) {
  return crs_uses_avx2() && __atomic_load_n(&vector_unfilter_enabled, __ATOMIC_RELAXED);
}

// v[k] byte j becomes v[j] byte k, in each 128-bit half separately (rows 0-15 below, 16-31 above).
__attribute__((target("avx2"))) static inline void transpose_16x16_halves(__m256i v[16]) {
  __m256i a[16], b[16], c[16];
  for (int i = 0; i < 8; ++i) {  // a[g*8 + i]: rows 2i and 2i+1, columns 8g to 8g+7
    a[i] = _mm256_unpacklo_epi8(v[2 * i], v[2 * i + 1]);
    a[i + 8] = _mm256_unpackhi_epi8(v[2 * i], v[2 * i + 1]);
  }
  for (int g = 0; g < 2; ++g) {  // b[q*4 + i]: rows 4i to 4i+3, columns 4q to 4q+3
    for (int i = 0; i < 4; ++i) {
      b[g * 8 + i] = _mm256_unpacklo_epi16(a[g * 8 + 2 * i], a[g * 8 + 2 * i + 1]);
      b[g * 8 + 4 + i] = _mm256_unpackhi_epi16(a[g * 8 + 2 * i], a[g * 8 + 2 * i + 1]);
    }
  }
  for (int q = 0; q < 4; ++q) {  // c[p*2 + h]: rows 8h to 8h+7, columns 2p and 2p+1
    for (int h = 0; h < 2; ++h) {
      c[q * 4 + h] = _mm256_unpacklo_epi32(b[q * 4 + 2 * h], b[q * 4 + 2 * h + 1]);
      c[q * 4 + 2 + h] = _mm256_unpackhi_epi32(b[q * 4 + 2 * h], b[q * 4 + 2 * h + 1]);
    }
  }
  for (int p = 0; p < 8; ++p) {  // v[j]: column j, rows 0 to 15
    v[2 * p] = _mm256_unpacklo_epi64(c[p * 2], c[p * 2 + 1]);
    v[2 * p + 1] = _mm256_unpackhi_epi64(c[p * 2], c[p * 2 + 1]);
  }
}

__attribute__((target("avx2"))) static inline __m256i paeth_bytes(__m256i a, __m256i b, __m256i c) {
  __m256i max_bc = _mm256_max_epu8(b, c), max_ac = _mm256_max_epu8(a, c);
  __m256i pa = _mm256_sub_epi8(max_bc, _mm256_min_epu8(b, c));  // |b - c|
  __m256i pb = _mm256_sub_epi8(max_ac, _mm256_min_epu8(a, c));  // |a - c|
  __m256i same_side = _mm256_cmpeq_epi8(_mm256_cmpeq_epi8(max_ac, a), _mm256_cmpeq_epi8(max_bc, b));
  __m256i max_p = _mm256_max_epu8(pa, pb), min_p = _mm256_min_epu8(pa, pb);
  __m256i pc = _mm256_blendv_epi8(_mm256_sub_epi8(max_p, min_p), _mm256_adds_epu8(pa, pb), same_side);
  __m256i pa_smallest =
      _mm256_and_si256(_mm256_cmpeq_epi8(min_p, pa), _mm256_cmpeq_epi8(_mm256_min_epu8(pa, pc), pa));
  __m256i b_not_above_c = _mm256_cmpeq_epi8(_mm256_min_epu8(pb, pc), pb);  // pb <= pc
  return _mm256_blendv_epi8(_mm256_blendv_epi8(c, b, b_not_above_c), a, pa_smallest);
}

// Unfilters rows[0..count-1] (count at most 32; each `length` bytes, Paeth, one byte per pixel) in
// place; `above` is the decoded row above the first. `scratch` holds 33 rows of `pitch` = margins +
// length bytes, its left margins zero (they stay zero: a lane left of column 0 decodes zeros). Lanes
// from `count` on decode whatever the scratch holds, and are not copied back.
__attribute__((target("avx2"))) static void unfilter_paeth_band_avx2(uint8_t *const rows[CIO_BAND_ROWS], int count,
                                                                     const uint8_t *above, size_t length,
                                                                     uint8_t *scratch, size_t pitch) {
  uint8_t *above_copy = scratch + CIO_BAND_MARGIN_LEFT;
  uint8_t *band = above_copy + pitch;  // row k at band + k * pitch
  memcpy(above_copy, above, length);
  for (int k = 0; k < count; ++k) memcpy(band + k * pitch, rows[k], length);
  // Signed column arithmetic: row k runs k columns behind, into its left margin.
  ptrdiff_t steps = (ptrdiff_t)length + count - 1;  // the last row ends count - 1 steps after the first
  __m256i last = _mm256_setzero_si256(), last_above = _mm256_setzero_si256();
  for (ptrdiff_t start = 0; start < steps; start += 16) {
    __m256i work[16];
    for (int k = 0; k < 16; ++k) {  // bytes start - k … of row k, below; of row k + 16, above
      const uint8_t *low = band + k * pitch + (start - k), *high = band + (k + 16) * pitch + (start - k - 16);
      work[k] = _mm256_loadu2_m128i((const __m128i *)high, (const __m128i *)low);
    }
    transpose_16x16_halves(work);  // work[j]: the filtered bytes of step start + j
    for (int j = 0; j < 16; ++j) {
      ptrdiff_t step = start + j;
      // Byte 15 of the row above at `step`, then lane 15's last result for lane 16.
      __m128i above_bytes = _mm_loadu_si128((const __m128i *)(above_copy + (step - 15)));
      __m256i carried = _mm256_inserti128_si256(_mm256_castsi128_si256(above_bytes), _mm256_castsi256_si128(last), 1);
      __m256i up = _mm256_alignr_epi8(last, carried, 15);
      __m256i decoded = _mm256_add_epi8(work[j], paeth_bytes(last, up, last_above));
      last_above = up;
      last = decoded;
      work[j] = decoded;
    }
    transpose_16x16_halves(work);  // work[k]: row k's and row k + 16's results, skewed as loaded
    for (int k = 0; k < 16; ++k) {
      _mm_storeu_si128((__m128i *)(band + k * pitch + (start - k)), _mm256_castsi256_si128(work[k]));
      _mm_storeu_si128((__m128i *)(band + (k + 16) * pitch + (start - k - 16)),
                       _mm256_extracti128_si256(work[k], 1));
    }
  }
  for (int k = 0; k < count; ++k) memcpy(rows[k], band + k * pitch, length);
}
#else
static int uses_vector_unfilter(void) { return 0; }
static void unfilter_paeth_band_avx2(uint8_t *const rows[CIO_BAND_ROWS], int count, const uint8_t *above,
                                     size_t length, uint8_t *scratch, size_t pitch) {
  (void)rows, (void)count, (void)above, (void)length, (void)scratch, (void)pitch;
}
#endif

int cio_decode_grey_png_directly(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image) {
  memset(image, 0, sizeof *image);
  size_t offset = 8;
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) return 0;
  if (size < offset + 8 + 13 + 4 || read_be32(data + offset) != 13 || memcmp(data + offset + 4, "IHDR", 4) != 0) {
    return 0;
  }
  const uint8_t *header = data + offset + 8;
  uint32_t width = read_be32(header), height = read_be32(header + 4);
  int bit_depth = header[8], colour_type = header[9];
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu) return 0;
  if ((bit_depth != 8 && bit_depth != 16) || (colour_type != 0 && colour_type != 4)) return 0;
  if (header[10] != 0 || header[11] != 0 || header[12] != 0) return 0;  // deflate, filter set 0, not interlaced
  if (max_pixels > 0 && (uint64_t)width * height > max_pixels) return 0;

  // The chunks: every CRC checked; the image data may come in several IDAT chunks, one after another.
  const uint8_t *single = NULL;
  size_t data_size = 0, data_chunks = 0;
  int idat_state = 0;  // 0 before, 1 inside, 2 after the IDAT run
  int ended = 0;
  while (!ended) {
    if (size - offset < 12) return 0;
    uint32_t length = read_be32(data + offset);
    if (length > 0x7fffffffu || length > size - offset - 12) return 0;
    const uint8_t *type = data + offset + 4;
    if (libdeflate_crc32(0, type, 4 + (size_t)length) != read_be32(data + offset + 8 + length)) return 0;
    if (memcmp(type, "IDAT", 4) == 0) {
      if (idat_state == 2) return 0;
      idat_state = 1;
      if (data_chunks++ == 0) single = type + 4;
      data_size += length;
    } else {
      if (idat_state == 1) idat_state = 2;
      if (memcmp(type, "IEND", 4) == 0) {
        ended = 1;
      } else if (offset > 8 && !(type[0] & 0x20)) {
        return 0;  // a critical chunk other than IHDR, IDAT and IEND (PLTE in grey, a second IHDR, …)
      }
    }
    offset += 12 + (size_t)length;
  }
  if (data_chunks == 0) return 0;

  size_t pixel_bytes = (size_t)(colour_type == 4 ? 2 : 1) * (bit_depth / 8);
  size_t row_bytes = (size_t)width * pixel_bytes;
  if (row_bytes / pixel_bytes != width || (row_bytes + 1) > SIZE_MAX / height) return 0;
  size_t stride = row_bytes + 1, raw_size = stride * height;
  size_t sample_bytes = (size_t)bit_depth / 8;

  uint8_t *stream = NULL;
  const uint8_t *compressed = single;
  if (data_chunks > 1) {
    stream = malloc(data_size);
    if (!stream) return 0;
    size_t at = 0;
    for (size_t walk = 8; at < data_size;) {
      uint32_t length = read_be32(data + walk);
      if (memcmp(data + walk + 4, "IDAT", 4) == 0) {
        memcpy(stream + at, data + walk + 8, length);
        at += length;
      }
      walk += 12 + (size_t)length;
    }
    compressed = stream;
  }
  uint8_t *raw = malloc(raw_size);
  uint8_t *zeros = calloc(row_bytes, 1);
  uint8_t *pixels = malloc((size_t)width * height * sample_bytes);
  struct libdeflate_decompressor *inflater = libdeflate_alloc_decompressor();
  // Exactly the image, and nothing after the stream (libpng would warn of extra data).
  size_t consumed = 0, produced = 0;
  int decoded = raw && zeros && pixels && inflater &&
                libdeflate_zlib_decompress_ex(inflater, compressed, data_size, raw, raw_size, &consumed,
                                              &produced) == LIBDEFLATE_SUCCESS &&
                consumed == data_size && produced == raw_size;
  // The vector band's scratch: the row above and 32 rows, each with zero margins (see above).
  size_t pitch = CIO_BAND_MARGIN_LEFT + row_bytes + CIO_BAND_MARGIN_RIGHT;
  uint8_t *scratch = NULL;
  int vector_bands = decoded && pixel_bytes == 1 && height >= CIO_BAND_MIN_ROWS && uses_vector_unfilter();
  for (uint32_t y = 0; decoded && y < height;) {
    uint8_t *row = raw + (size_t)y * stride;
    const uint8_t *above = y == 0 ? zeros : row + 1 - stride;
    uint32_t paeth_run = 0;  // consecutive Paeth rows from y, counted up to a band
    if (vector_bands) {
      while (paeth_run < CIO_BAND_ROWS && paeth_run < height - y && row[(size_t)paeth_run * stride] == 4) ++paeth_run;
    }
    if (paeth_run >= CIO_BAND_MIN_ROWS && (scratch || (scratch = calloc(CIO_BAND_ROWS + 1, pitch)))) {
      uint8_t *rows[CIO_BAND_ROWS];
      for (uint32_t k = 0; k < paeth_run; ++k) rows[k] = row + 1 + (size_t)k * stride;
      unfilter_paeth_band_avx2(rows, (int)paeth_run, above, row_bytes, scratch, pitch);
      y += paeth_run;
    } else if (pixel_bytes == 1 && height - y >= 4 && row[0] == 4 && row[stride] == 4 && row[2 * stride] == 4 &&
        row[3 * stride] == 4) {
      uint8_t *const rows[4] = {row + 1, row + 1 + stride, row + 1 + 2 * stride, row + 1 + 3 * stride};
      unfilter_four_paeth_rows(rows, above, row_bytes);
      y += 4;
    } else {
      decoded = unfilter_row(row[0], row + 1, above, row_bytes, pixel_bytes);
      y += 1;
    }
  }
  if (decoded) {
    // Grey samples out, alpha dropped (libpng strips it the same way), 16-bit samples to native order.
    for (uint32_t y = 0; y < height; ++y) {
      const uint8_t *row = raw + (size_t)y * stride + 1;
      if (bit_depth == 8) {
        uint8_t *out = pixels + (size_t)y * width;
        if (colour_type == 0) {
          memcpy(out, row, width);
        } else {
          for (uint32_t x = 0; x < width; ++x) out[x] = row[2 * (size_t)x];
        }
      } else {
        uint16_t *out = (uint16_t *)pixels + (size_t)y * width;
        for (uint32_t x = 0; x < width; ++x) {
          const uint8_t *sample = row + (size_t)x * pixel_bytes;
          out[x] = (uint16_t)(sample[0] << 8 | sample[1]);
        }
      }
    }
  }
  libdeflate_free_decompressor(inflater);
  free(scratch);
  free(zeros);
  free(raw);
  free(stream);
  if (!decoded) {
    free(pixels);
    return 0;
  }
  image->width = width;
  image->height = height;
  image->bit_depth = bit_depth;
  image->source_channels = colour_type == 4 ? 2 : 1;
  image->palette_or_progressive = 0;
  image->pixels = pixels;
  return 1;
}

int cio_decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
                   size_t error_size) {
  memset(image, 0, sizeof *image);
  if (cio_decode_grey_png_directly(data, size, max_pixels, image)) return 0;
  return cio_decode_png_with_libpng(data, size, max_pixels, image, error, error_size);
}

int cio_decode_png_with_libpng(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
                               size_t error_size) {
  memset(image, 0, sizeof *image);
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    set_error(error, error_size, "not a PNG file (bad signature)");
    return 1;
  }
  png_source source = {data, size, 8, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_error_handler, png_warning_handler);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    set_error(error, error_size, "out of memory");
    return 1;
  }
  // Volatile: assigned between setjmp and a possible longjmp.
  uint8_t *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    set_error(error, error_size, source.message[0] ? source.message : "corrupt PNG data");
    return 1;
  }
  png_set_read_fn(png, &source, png_read_from_memory);
  png_set_sig_bytes(png, 8);
  // Sizes are checked against max_pixels below, from the header; libpng's own limit only keeps its
  // arithmetic in range.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  {
    uint64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (max_pixels && width * height > max_pixels) {
      png_destroy_read_struct(&png, &info, NULL);
      image->width = (uint32_t)width;
      image->height = (uint32_t)height;
      return CIO_OVER_PIXEL_LIMIT;
    }
  }

  int color_type = png_get_color_type(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  image->palette_or_progressive = color_type == PNG_COLOR_TYPE_PALETTE;
  image->source_channels = png_get_channels(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (color_type & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE || color_type & PNG_COLOR_MASK_COLOR) {
    png_set_rgb_to_gray_fixed(png, 1, -1, -1);  // libpng's default weights are ITU-R BT.709
  }
  if (bit_depth == 16) png_set_swap(png);  // PNG is big-endian; hand over native order
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  uint32_t width = png_get_image_width(png, info);
  uint32_t height = png_get_image_height(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  int out_depth = png_get_bit_depth(png, info);
  if (png_get_channels(png, info) != 1 || row_bytes != (size_t)width * (out_depth / 8)) {
    png_error(png, "unsupported PNG layout after conversion to grey");
  }
  pixels = malloc(row_bytes * height);
  rows = malloc(sizeof(png_bytep) * height);
  if (!pixels || !rows) png_error(png, "out of memory");
  for (uint32_t y = 0; y < height; ++y) rows[y] = pixels + (size_t)y * row_bytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);

  image->width = width;
  image->height = height;
  image->bit_depth = out_depth;
  image->pixels = pixels;
  return 0;
}

typedef struct {
  uint8_t *data;
  size_t size;
  size_t capacity;
  int failed;
} png_sink;

static void png_write_to_memory(png_structp png, png_bytep bytes, png_size_t count) {
  png_sink *sink = (png_sink *)png_get_io_ptr(png);
  if (sink->size + count > sink->capacity) {
    size_t capacity = sink->capacity ? sink->capacity : 65536;
    while (capacity < sink->size + count) capacity *= 2;
    uint8_t *grown = realloc(sink->data, capacity);
    if (!grown) {
      sink->failed = 1;
      png_error(png, "out of memory");
    }
    sink->data = grown;
    sink->capacity = capacity;
  }
  memcpy(sink->data + sink->size, bytes, count);
  sink->size += count;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int cio_encode_png(const void *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                   const uint8_t *palette, int palette_size, uint8_t **out, size_t *out_size, char *error,
                   size_t error_size) {
  *out = NULL;
  *out_size = 0;
  if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || width == 0 || height == 0 ||
      (palette && (channels != 1 || bit_depth != 8 || palette_size < 1 || palette_size > 256))) {
    set_error(error, error_size, "PNG encoding needs 1 to 4 channels of 8 or 16 bits (a palette: 1 channel of "
              "8-bit indices, 1 to 256 colours) and a non-empty image");
    return 1;
  }
  static const int color_types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                    PNG_COLOR_TYPE_RGB_ALPHA};
  png_source messages = {NULL, 0, 0, {0}};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &messages, png_error_handler, png_warning_handler);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    set_error(error, error_size, "out of memory");
    return 1;
  }
  png_sink sink = {NULL, 0, 0, 0};
  if (setjmp(png_jmpbuf(png))) {
    free(sink.data);
    png_destroy_write_struct(&png, &info);
    set_error(error, error_size, messages.message[0] ? messages.message : "PNG encoding failed");
    return 1;
  }
  png_set_write_fn(png, &sink, png_write_to_memory, png_flush_nothing);
  png_set_IHDR(png, info, width, height, bit_depth, palette ? PNG_COLOR_TYPE_PALETTE : color_types[channels - 1],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) {
    png_color colors[256];
    for (int i = 0; i < palette_size; ++i) {
      colors[i].red = palette[3 * i];
      colors[i].green = palette[3 * i + 1];
      colors[i].blue = palette[3 * i + 2];
    }
    png_set_PLTE(png, info, colors, palette_size);
  }
  png_set_compression_level(png, 6);
  png_write_info(png, info);
  if (bit_depth == 16) png_set_swap(png);
  size_t row_bytes = (size_t)width * channels * (bit_depth / 8);
  for (uint32_t y = 0; y < height; ++y) {
    png_write_row(png, (png_const_bytep)pixels + (size_t)y * row_bytes);
  }
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  *out = sink.data;
  *out_size = sink.size;
  return 0;
}

// MARK: JPEG

typedef struct {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_error_exit(j_common_ptr info) {
  jpeg_error *error = (jpeg_error *)info->err;
  (*info->err->format_message)(info, error->message);
  longjmp(error->jump, 1);
}

static void jpeg_quiet(j_common_ptr info, int level) {
  // Level -1 is a corrupt-data warning (such as a premature end of data): count it, print nothing;
  // the count is checked when decoding ends.
  if (level < 0) info->err->num_warnings++;
}

int cio_decode_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
                    size_t error_size) {
  memset(image, 0, sizeof *image);
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
    set_error(error, error_size, "not a JPEG file (no start-of-image marker)");
    return 1;
  }
  struct jpeg_decompress_struct info;
  jpeg_error handler;
  info.err = jpeg_std_error(&handler.manager);
  handler.manager.error_exit = jpeg_error_exit;
  handler.manager.emit_message = jpeg_quiet;
  handler.message[0] = 0;
  uint8_t *volatile pixels = NULL;
  if (setjmp(handler.jump)) {
    free(pixels);
    jpeg_destroy_decompress(&info);
    set_error(error, error_size, handler.message[0] ? handler.message : "corrupt JPEG data");
    return 1;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  if (max_pixels && (uint64_t)info.image_width * info.image_height > max_pixels) {
    image->width = info.image_width;
    image->height = info.image_height;
    jpeg_destroy_decompress(&info);
    return CIO_OVER_PIXEL_LIMIT;
  }
  image->source_channels = info.num_components;
  image->palette_or_progressive = info.progressive_mode ? 1 : 0;
  info.out_color_space = JCS_GRAYSCALE;  // luminance of YCbCr; grey stays grey
  jpeg_start_decompress(&info);
  size_t row_bytes = (size_t)info.output_width;
  pixels = malloc(row_bytes * info.output_height);
  if (!pixels) {
    snprintf(handler.message, sizeof handler.message, "out of memory");
    longjmp(handler.jump, 1);
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels + (size_t)info.output_scanline * row_bytes;
    jpeg_read_scanlines(&info, &row, 1);
  }
  // libjpeg pads a truncated stream with grey and only warns; a truncated X-ray is not a valid X-ray.
  long warnings = handler.manager.num_warnings;
  jpeg_finish_decompress(&info);
  image->width = info.output_width;
  image->height = info.output_height;
  image->bit_depth = 8;
  jpeg_destroy_decompress(&info);
  if (warnings > 0) {
    free(pixels);
    set_error(error, error_size, "corrupt or truncated JPEG data");
    return 1;
  }
  image->pixels = pixels;
  return 0;
}

int cio_encode_jpeg(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                    int progressive, uint8_t **out, size_t *out_size, char *error, size_t error_size) {
  *out = NULL;
  *out_size = 0;
  if ((channels != 1 && channels != 3) || width == 0 || height == 0 || quality < 1 || quality > 100) {
    set_error(error, error_size, "JPEG encoding needs 1 or 3 channels, a non-empty image and quality 1-100");
    return 1;
  }
  struct jpeg_compress_struct info;
  jpeg_error handler;
  info.err = jpeg_std_error(&handler.manager);
  handler.manager.error_exit = jpeg_error_exit;
  handler.message[0] = 0;
  unsigned char *volatile buffer = NULL;
  unsigned long size = 0;
  if (setjmp(handler.jump)) {
    jpeg_destroy_compress(&info);
    free(buffer);
    set_error(error, error_size, handler.message[0] ? handler.message : "JPEG encoding failed");
    return 1;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, (unsigned char **)&buffer, &size);
  info.image_width = width;
  info.image_height = height;
  info.input_components = channels;
  info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  if (progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = (JSAMPROW)(pixels + (size_t)info.next_scanline * width * channels);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  *out = buffer;
  *out_size = size;
  return 0;
}
