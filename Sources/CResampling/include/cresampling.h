// CResampling: the per-pixel inner loops of image resampling, in C so that they can use the
// processor's vector gathers (AVX2) where it has them; plain C otherwise. Datasets' augmentation
// calls them; everything around them (the random draws, the geometry) stays in Swift.
#ifndef CRESAMPLING_H
#define CRESAMPLING_H

#ifdef __cplusplus
extern "C" {
#endif

/// Bilinear sampling of `source` (width × height floats, row by row) along an affine map, edge pixels
/// replicated: output pixel (x, y) takes the source at
///   (origin_x + x·step_x_x + y·step_y_x,  origin_y + x·step_x_y + y·step_y_y),
/// clamped to [0, width − 1] × [0, height − 1]. `output` holds width × height floats.
void crs_affine_bilinear(const float *source, float *output, int width, int height, float origin_x,
                         float origin_y, float step_x_x, float step_x_y, float step_y_x, float step_y_y);

/// Whether this processor and operating system run AVX2 and FMA code (checked once): where
/// crs_affine_bilinear uses its gathers, and CImageIO's PNG unfilter its vector lanes.
int crs_uses_avx2(void);

/// The plain-C path of crs_affine_bilinear, whatever the processor (tests compare the two).
void crs_affine_bilinear_plain(const float *source, float *output, int width, int height, float origin_x,
                               float origin_y, float step_x_x, float step_x_y, float step_y_x,
                               float step_y_y);

#ifdef __cplusplus
}
#endif

#endif
