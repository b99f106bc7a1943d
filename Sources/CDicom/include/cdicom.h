// CDicom: DICOM decoding through GDCM. GDCM reads the file and decompresses the pixel data (JPEG
// baseline and extended, JPEG-LS, JPEG 2000, RLE, deflate, either endianness); this layer hands the
// stored values of the first frame and the attributes needed to display them to Swift, which applies
// the modality LUT, the VOI transform and the photometric interpretation. Errors come back as text.
#ifndef CDICOM_H
#define CDICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t width;
  uint32_t height;
  uint32_t frames;
  int bits_allocated;
  int bits_stored;
  /// 0 unsigned, 1 two's complement.
  int pixel_representation;
  int samples_per_pixel;
  /// "MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR", ...
  char photometric[32];
  /// Modality LUT: output = slope * stored + intercept (1 and 0 when absent).
  double rescale_slope;
  double rescale_intercept;
  /// VOI window (the first when several are given); has_window = 0 when absent.
  int has_window;
  double window_center;
  double window_width;
  /// "LINEAR" (default), "LINEAR_EXACT" or "SIGMOID".
  char voi_function[16];
  /// VOI LUT Sequence, first item: lut_count entries mapping stored value lut_first_mapped onwards;
  /// lut_bits bits per output entry. lut_count = 0 when absent.
  uint32_t lut_count;
  int32_t lut_first_mapped;
  int lut_bits;
  /// lut_count entries; free with cdcm_free.
  uint16_t *lut;
  /// Study, Series and SOP Instance UIDs (0020,000D), (0020,000E), (0008,0018), for audit records;
  /// empty when absent (a UID has at most 64 characters).
  char study_instance_uid[65];
  char series_instance_uid[65];
  char sop_instance_uid[65];
  /// SOP Class UID (0008,0016) and Modality (0008,0060), for checking what kind of image it is.
  char sop_class_uid[65];
  char modality[17];
  /// width * height * samples_per_pixel stored values of the first frame, sign-extended, interleaved
  /// (RGB RGB ...); free with cdcm_free.
  int32_t *values;
} cdcm_image;

/// Status of a decode refused because rows × columns × frames exceed `max_pixels`: decided from the
/// header, before the pixel data is decompressed.
#define CDCM_OVER_PIXEL_LIMIT 2

/// Decodes the first frame of a DICOM file held in memory. Returns 0 on success;
/// CDCM_OVER_PIXEL_LIMIT, with the declared width, height and frames in `image` and no values, when
/// it declares more than `max_pixels` pixels (0: no limit); otherwise 1 and a message.
int cdcm_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cdcm_image *image, char *error,
                size_t error_size);

/// cdcm_decode in a forked child process, the result sent back through a Unix socket pair. GDCM is built with
/// assertions on and aborts on some malformed files; in the child such an abort only fails this
/// call (with a message saying so) instead of ending the program.
int cdcm_decode_isolated(const uint8_t *data, size_t size, uint64_t max_pixels, cdcm_image *image, char *error,
                         size_t error_size);

void cdcm_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
