// CDicom's writers: a model's result on a DICOM image, written back as DICOM in the image's own study —
// a Comprehensive SR (TID 1500 measurement report: the predicted class as the finding, each class's
// probability, the algorithm's identification) and a Secondary Capture of the X-ray with the heatmap
// burnt in. GDCM builds and encodes the data sets; the content (which attributes, which codes) is
// decided here and in Swift's DicomResults. Also a reader of any data set as DICOM JSON (PS3.18 F.2),
// for tests and for checking what was written.
#ifndef CDICOM_RESULTS_H
#define CDICOM_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A coded concept: code value (at most 16 characters), coding scheme designator, code meaning.
typedef struct {
  const char *value;
  const char *scheme;
  const char *meaning;
} cdcm_code;

/// What every result instance carries besides its content. The patient and study modules are
/// copied from the source image; the source must already have been decoded (cdcm_decode_isolated)
/// without failure, because these writers parse it again in this process.
typedef struct {
  const char *series_instance_uid;
  const char *sop_instance_uid;
  /// The study to use when the source names none (new, then).
  const char *fallback_study_instance_uid;
  int series_number;
  const char *series_description;
  /// "OrthoCXR"; and the software version ("OrthoCXR 1.0").
  const char *manufacturer;
  const char *software_version;
  /// The model: "resnet18, 3 classes".
  const char *model_name;
} cdcm_result_identity;

typedef struct {
  /// The device that made the observation (TID 1004): its UID.
  const char *device_observer_uid;
  /// TID 4019: algorithm name, version, and parameters (checkpoint hash, temperature …).
  const char *algorithm_name;
  const char *algorithm_version;
  const char *const *algorithm_parameters;
  size_t parameter_count;
  /// TID 1501's tracking identifier and its UID.
  const char *tracking_identifier;
  const char *tracking_uid;
  /// One per class: the finding's code, the NUM concept of its probability, the probability.
  size_t class_count;
  const cdcm_code *findings;
  const cdcm_code *probability_concepts;
  const double *probabilities;
  /// The predicted class (an index into findings).
  size_t predicted;
  /// Private coding scheme used by the concepts above (designator, name), declared in the Coding
  /// Scheme Identification Sequence; NULL for none.
  const char *private_scheme;
  const char *private_scheme_name;
} cdcm_sr_content;

typedef struct {
  uint32_t width;
  uint32_t height;
  /// width * height interleaved RGB bytes.
  const uint8_t *rgb;
  /// The source image's pixel size divided by this image's (1 when the sizes are equal): the
  /// source's Pixel Spacing (or Imager Pixel Spacing) is scaled by its inverse.
  double scale;
  /// Derivation Description (0008,2111) and Image Comments (0020,4000).
  const char *derivation_description;
  const char *image_comments;
} cdcm_sc_content;

/// A Comprehensive SR for `source`. On success *output holds the Part 10 file (free with cdcm_free).
int cdcm_make_sr(const uint8_t *source, size_t source_size, const cdcm_result_identity *identity,
                 const cdcm_sr_content *content, uint8_t **output, size_t *output_size, char *error,
                 size_t error_size);

/// A Secondary Capture (RGB, burnt-in annotation) for `source`.
int cdcm_make_sc(const uint8_t *source, size_t source_size, const cdcm_result_identity *identity,
                 const cdcm_sc_content *content, uint8_t **output, size_t *output_size, char *error,
                 size_t error_size);

/// The data set of a DICOM file as DICOM JSON (PS3.18 F.2; bulk data left out), in a
/// NUL-terminated string to free with cdcm_free. Parses in this process: only for files this
/// program wrote or has decoded already.
int cdcm_to_json(const uint8_t *data, size_t size, char **json, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
