// libpng and libjpeg-turbo report errors by calling a function that must not return; both let that
// function longjmp back to the caller. The setjmp points live here, in C, so that no longjmp ever
// crosses Swift frames; Swift sees a status and a message.
#include "cimageio.h"

// stdio.h first: jpeglib.h uses FILE without including it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

#include <jpeglib.h>
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

int cio_decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, cio_image *image, char *error,
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
