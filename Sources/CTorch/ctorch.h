// CTorch: a flat C API over libtorch (ATen and autograd), in the style of tch-rs's torch_api.h.
//
// Rules that every function follows, so that the Swift layer above can wrap them mechanically:
// - Tensors are opaque handles (`ct_tensor`), each owning one at::Tensor; free them with ct_free.
// - A function that can fail returns int: 0 on success, 1 on failure. On failure the message of the C++
//   exception is kept in a thread-local buffer that ct_last_error returns. No C++ exception ever
//   crosses this boundary, so a shape mismatch becomes a Swift error, never an abort.
// - New tensors are returned through a `ct_tensor *out` first argument.
// - There is no logic here beyond argument conversion: policy lives in Swift.
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_opaque *ct_tensor;

// Element types; the values are c10::ScalarType's, which PyTorch keeps stable.
enum {
  CT_UINT8 = 0,
  CT_INT8 = 1,
  CT_INT16 = 2,
  CT_INT32 = 3,
  CT_INT64 = 4,
  CT_FLOAT16 = 5,
  CT_FLOAT32 = 6,
  CT_FLOAT64 = 7,
  CT_BOOL = 11,
  CT_BFLOAT16 = 15,
};

// Device types; the values are c10::DeviceType's.
enum { CT_CPU = 0, CT_CUDA = 1 };

// Memory formats.
enum { CT_CONTIGUOUS = 0, CT_CHANNELS_LAST = 1, CT_PRESERVE = 2 };

// Loss reductions; the values are at::Reduction's.
enum { CT_REDUCTION_NONE = 0, CT_REDUCTION_MEAN = 1, CT_REDUCTION_SUM = 2 };

// MARK: Errors and runtime

/// The message of the last failure on this thread ("" when none).
const char *ct_last_error(void);
const char *ct_version(void);
void ct_set_num_threads(int threads);
int ct_get_num_threads(void);
/// The caching allocator for CPU tensors (shim/ctorch_allocator.cpp): freed blocks of 256 KiB or
/// more are kept, up to `limit_bytes` in all, and reused for requests of the same size class, so that
/// a training loop stops faulting in fresh pages every step. Disabled until enabled; disabling or
/// releasing gives every kept block back.
void ct_cpu_memory_cache_enable(int64_t limit_bytes);
void ct_cpu_memory_cache_disable(void);
void ct_cpu_memory_cache_release(void);
/// Bytes kept now, and since the process started: large allocations served from the cache and
/// large allocations that found nothing to reuse (both counted only while enabled).
void ct_cpu_memory_cache_statistics(int64_t *cached_bytes, int64_t *reused, int64_t *fresh);
/// Seeds the CPU generator, and once the CUDA backend is loaded, every CUDA device's too.
void ct_manual_seed(uint64_t seed);
/// The state of libtorch's default CPU generator as a uint8 tensor, and restoring it (exact resume).
int ct_get_rng_state(ct_tensor *out);
int ct_set_rng_state(ct_tensor state);
/// Loads a shared library into the process (RTLD_GLOBAL); fails with the loader's message.
int ct_load_library(const char *path);
/// Loads libtorch_cuda.so (found through the shim's rpath, beside libtorch_cpu.so) so that CUDA
/// devices become usable; the CPU-only link keeps it optional. Until it has succeeded, the two
/// functions below answer 0 without asking libtorch, because libtorch's answer, once given, is final
/// for the process.
int ct_load_cuda_backend(void);
int ct_cuda_is_available(void);
int ct_cuda_device_count(void);
int ct_cuda_synchronize(int device_index);
/// Whether CUDA float32 convolutions (cuDNN) and matrix products (cuBLAS) may use TensorFloat-32.
/// PyTorch's defaults are: convolutions yes, matrix products no. Off, CUDA float32 results match the
/// CPU's to float32 rounding.
void ct_set_cuda_tf32(int convolutions, int matrix_products);

void ct_set_grad_enabled(int enabled);
int ct_is_grad_enabled(void);

void ct_autocast_set_enabled(int device_type, int enabled);
int ct_autocast_is_enabled(int device_type);
void ct_autocast_set_dtype(int device_type, int dtype);
int ct_autocast_get_dtype(int device_type);
int ct_autocast_increment_nesting(void);
int ct_autocast_decrement_nesting(void);
void ct_autocast_clear_cache(void);

// MARK: Lifetime and properties

void ct_free(ct_tensor t);
/// A new handle to the same tensor (shares storage and autograd identity).
int ct_shallow_clone(ct_tensor *out, ct_tensor t);
int ct_defined(ct_tensor t);
int ct_dim(ct_tensor t);
/// Writes ct_dim(t) sizes into `sizes`.
void ct_sizes(ct_tensor t, int64_t *sizes);
void ct_strides(ct_tensor t, int64_t *strides);
int64_t ct_numel(ct_tensor t);
int ct_dtype(ct_tensor t);
int ct_device_type(ct_tensor t);
int ct_device_index(ct_tensor t);
int ct_is_contiguous(ct_tensor t, int memory_format);
int ct_requires_grad(ct_tensor t);
int ct_is_leaf(ct_tensor t);

// MARK: Creation

/// Copies host memory laid out contiguously as `shape` with element type `dtype` (as many bytes as
/// the shape and type make) into a new CPU tensor.
int ct_from_blob(ct_tensor *out, const void *data, const int64_t *shape, int ndim, int dtype);
/// A tensor over `data` itself, no copy; `release(owner)` runs once when its storage is freed (after
/// a failure the tensor was never made and release is not called: the caller releases).
int ct_from_blob_owned(ct_tensor *out, void *data, const int64_t *shape, int ndim, int dtype, void *owner,
                       void (*release)(void *owner));
int ct_empty(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
             int device_index);
int ct_full(ct_tensor *out, const int64_t *shape, int ndim, double value, int dtype, int device_type,
            int device_index);
int ct_randn(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
             int device_index);
int ct_rand(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
            int device_index);
int ct_randint(ct_tensor *out, int64_t low, int64_t high, const int64_t *shape, int ndim,
               int device_type, int device_index);
int ct_randperm(ct_tensor *out, int64_t n);
int ct_arange(ct_tensor *out, double start, double end, double step, int dtype, int device_type,
              int device_index);
int ct_eye(ct_tensor *out, int64_t n, int dtype, int device_type, int device_index);

// MARK: Host transfer

/// Copies a tensor (any device, any layout) into host memory; it must hold exactly `nbytes`.
int ct_copy_to_host(ct_tensor t, void *data, size_t nbytes);
/// The memory of a contiguous CPU tensor, to be filled in place (no copy); fails for others.
int ct_cpu_data(ct_tensor t, void **data);
int ct_item_double(ct_tensor t, double *value);
int ct_item_int64(ct_tensor t, int64_t *value);

// MARK: Autograd

int ct_set_requires_grad(ct_tensor t, int requires_grad);
/// `gradient` may be NULL for a scalar tensor.
int ct_backward(ct_tensor t, ct_tensor gradient, int retain_graph, int create_graph);
/// Writes NULL to `out` when the tensor has no gradient yet.
int ct_grad(ct_tensor *out, ct_tensor t);
/// Drops the gradient (PyTorch's zero_grad(set_to_none=True)).
int ct_clear_grad(ct_tensor t);
int ct_retain_grad(ct_tensor t);
int ct_detach(ct_tensor *out, ct_tensor t);
/// Replaces the tensor's data in place, keeping its identity (PyTorch's `param.data = ...`).
int ct_set_data(ct_tensor t, ct_tensor new_data);
/// Gradients of the sum of `outputs[i] * grad_outputs[i]` with respect to `inputs` (torch.autograd.grad).
/// `grad_outputs` may be NULL. Writes `ninputs` tensors to `out` (NULL where an input is unused).
int ct_autograd_grad(ct_tensor *out, const ct_tensor *outputs, const ct_tensor *grad_outputs,
                     int noutputs, const ct_tensor *inputs, int ninputs, int retain_graph,
                     int create_graph);

// MARK: Element-wise, one operand

int ct_neg(ct_tensor *out, ct_tensor t);
int ct_exp(ct_tensor *out, ct_tensor t);
int ct_log(ct_tensor *out, ct_tensor t);
int ct_sqrt(ct_tensor *out, ct_tensor t);
int ct_rsqrt(ct_tensor *out, ct_tensor t);
int ct_abs(ct_tensor *out, ct_tensor t);
int ct_sign(ct_tensor *out, ct_tensor t);
int ct_relu(ct_tensor *out, ct_tensor t);
int ct_sigmoid(ct_tensor *out, ct_tensor t);
int ct_tanh(ct_tensor *out, ct_tensor t);
int ct_floor(ct_tensor *out, ct_tensor t);
int ct_logical_not(ct_tensor *out, ct_tensor t);
int ct_isfinite(ct_tensor *out, ct_tensor t);
int ct_pow_scalar(ct_tensor *out, ct_tensor t, double exponent);
int ct_clamp(ct_tensor *out, ct_tensor t, double min, double max);
int ct_clamp_min(ct_tensor *out, ct_tensor t, double min);

// MARK: Element-wise, two operands (broadcasting)

int ct_add(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_sub(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_mul(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_div(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_pow(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_maximum(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_minimum(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_eq(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_ne(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_lt(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_le(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_gt(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_ge(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_logical_and(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_logical_or(ct_tensor *out, ct_tensor a, ct_tensor b);
int ct_add_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_mul_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_div_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_eq_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_lt_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_gt_scalar(ct_tensor *out, ct_tensor t, double value);
int ct_where(ct_tensor *out, ct_tensor condition, ct_tensor a, ct_tensor b);
int ct_masked_fill(ct_tensor *out, ct_tensor t, ct_tensor mask, double value);
int ct_matmul(ct_tensor *out, ct_tensor a, ct_tensor b);

// MARK: In place (no new tensor; used by optimizers under no-grad)

int ct_add_(ct_tensor t, ct_tensor other, double alpha);
int ct_relu_(ct_tensor t);
int ct_add_scalar_(ct_tensor t, double value);
int ct_mul_(ct_tensor t, ct_tensor other);
int ct_mul_scalar_(ct_tensor t, double value);
int ct_div_(ct_tensor t, ct_tensor other);
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, double value);
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, double value);
int ct_lerp_(ct_tensor t, ct_tensor end, double weight);

// Multi-tensor (foreach) operations over lists of n tensors, as PyTorch's optimizers use them: one
// call for all parameters, and on a GPU a few kernels rather than several per parameter. Lists must
// have the same length; the out-of-place ones write n new tensors to outs.
int ct_foreach_mul_scalar_(const ct_tensor *ts, int n, double value);
int ct_foreach_add_scalar_(const ct_tensor *ts, int n, double value);
int ct_foreach_div_scalar_(const ct_tensor *ts, int n, double value);
int ct_foreach_add_list_(const ct_tensor *ts, const ct_tensor *others, int n, double alpha);
int ct_foreach_add_list(ct_tensor *outs, const ct_tensor *ts, const ct_tensor *others, int n, double alpha);
int ct_foreach_lerp_scalar_(const ct_tensor *ts, const ct_tensor *ends, int n, double weight);
int ct_foreach_addcmul_scalar_(const ct_tensor *ts, const ct_tensor *a, const ct_tensor *b, int n, double value);
int ct_foreach_addcdiv_scalar_(const ct_tensor *ts, const ct_tensor *a, const ct_tensor *b, int n, double value);
int ct_foreach_sqrt(ct_tensor *outs, const ct_tensor *ts, int n);
int ct_copy_(ct_tensor t, ct_tensor src);
int ct_zero_(ct_tensor t);
int ct_fill_(ct_tensor t, double value);
int ct_normal_(ct_tensor t, double mean, double std);
int ct_uniform_(ct_tensor t, double from, double to);

// MARK: Shape and layout

int ct_reshape(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim);
int ct_permute(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim);
int ct_transpose(ct_tensor *out, ct_tensor t, int64_t dim0, int64_t dim1);
int ct_expand(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim);
int ct_contiguous(ct_tensor *out, ct_tensor t, int memory_format);
int ct_squeeze(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_unsqueeze(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_flatten(ct_tensor *out, ct_tensor t, int64_t start_dim, int64_t end_dim);
int ct_slice(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step);
int ct_select(ct_tensor *out, ct_tensor t, int64_t dim, int64_t index);
int ct_index_select(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index);
int ct_gather(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index);
int ct_flip(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim);
int ct_as_strided(ct_tensor *out, ct_tensor t, const int64_t *size, const int64_t *stride, int ndim,
                  int64_t storage_offset);
int ct_cat(ct_tensor *out, const ct_tensor *tensors, int count, int64_t dim);
int ct_stack(ct_tensor *out, const ct_tensor *tensors, int count, int64_t dim);
int ct_one_hot(ct_tensor *out, ct_tensor t, int64_t num_classes);
int ct_to_dtype(ct_tensor *out, ct_tensor t, int dtype);
/// non_blocking: a copy from pinned host memory to a GPU returns before it is done (queued on the
/// device's stream, like PyTorch's `.to(device, non_blocking=True)`).
int ct_to_device(ct_tensor *out, ct_tensor t, int device_type, int device_index, int non_blocking);
/// A copy of a CPU tensor in page-locked (pinned) memory, for fast and asynchronous copies to a GPU.
/// Needs the CUDA backend loaded.
int ct_pin_memory(ct_tensor *out, ct_tensor t);
int ct_is_pinned(ct_tensor t);
int ct_clone(ct_tensor *out, ct_tensor t);

// MARK: Reductions

int ct_sum(ct_tensor *out, ct_tensor t);
int ct_sum_dims(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim, int keepdim);
int ct_mean(ct_tensor *out, ct_tensor t);
int ct_mean_dims(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim, int keepdim);
int ct_var_dims(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim, int unbiased,
                int keepdim);
int ct_max(ct_tensor *out, ct_tensor t);
int ct_min(ct_tensor *out, ct_tensor t);
int ct_max_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim);
int ct_min_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim);
int ct_argmax(ct_tensor *out, ct_tensor t, int64_t dim, int keepdim);
int ct_logsumexp(ct_tensor *out, ct_tensor t, const int64_t *dims, int ndim, int keepdim);
int ct_norm_dims(ct_tensor *out, ct_tensor t, double p, const int64_t *dims, int ndim, int keepdim);
int ct_softmax(ct_tensor *out, ct_tensor t, int64_t dim);
int ct_log_softmax(ct_tensor *out, ct_tensor t, int64_t dim);

// MARK: Neural-network functions

/// `bias` may be NULL. stride, padding and dilation hold two values each (height, width).
int ct_conv2d(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
              const int64_t *stride, const int64_t *padding, const int64_t *dilation,
              int64_t groups);
/// `weight`, `bias`, `running_mean` and `running_var` may be NULL. In training mode the running
/// statistics are updated in place (momentum as in PyTorch: new = (1 - m) * old + m * batch).
int ct_batch_norm(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
                  ct_tensor running_mean, ct_tensor running_var, int training, double momentum,
                  double eps);
int ct_linear(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias);
int ct_max_pool2d(ct_tensor *out, ct_tensor input, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, const int64_t *dilation, int ceil_mode);
int ct_avg_pool2d(ct_tensor *out, ct_tensor input, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, int ceil_mode, int count_include_pad);
int ct_adaptive_avg_pool2d(ct_tensor *out, ct_tensor input, const int64_t *output_size);
int ct_dropout(ct_tensor *out, ct_tensor input, double p, int training);
int ct_upsample_bilinear2d(ct_tensor *out, ct_tensor input, const int64_t *output_size,
                           int align_corners);
/// `weight` may be NULL. `target` holds class indices (int64).
int ct_cross_entropy(ct_tensor *out, ct_tensor logits, ct_tensor target, ct_tensor weight,
                     int reduction, int64_t ignore_index, double label_smoothing);
int ct_mse_loss(ct_tensor *out, ct_tensor input, ct_tensor target, int reduction);

// MARK: Inference: convolutions with BatchNorm folded in and the activation fused (oneDNN, CPU)

/// 1 when this libtorch has oneDNN's fused convolutions (mkldnn::_convolution_pointwise and its
/// .binary overload) for CPU tensors, else 0.
int ct_fused_convolution_available(void);
/// The weight reordered once into oneDNN's blocked layout for inputs of `input_size` (4 values;
/// NULL: any), so that each call need not reorder it again.
int ct_conv2d_prepack_weight(ct_tensor *out, ct_tensor weight, const int64_t *stride,
                             const int64_t *padding, const int64_t *dilation, int64_t groups,
                             const int64_t *input_size);
/// conv2d (bias may be NULL), then ReLU when `relu` is 1, in one oneDNN primitive.
int ct_conv2d_fused(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
                    const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                    int64_t groups, int relu);
/// relu(conv2d(input) + residual), in one oneDNN primitive: a residual block's end.
int ct_conv2d_fused_add_relu(ct_tensor *out, ct_tensor input, ct_tensor residual, ct_tensor weight,
                             ct_tensor bias, const int64_t *stride, const int64_t *padding,
                             const int64_t *dilation, int64_t groups);
/// Whether ct_conv2d_fused_add_relu_into is there (1) or not (0).
int ct_fused_convolution_in_place_available(void);
/// The same, written into `residual` (oneDNN's sum post-op: the convolution accumulates onto it) and
/// returned as `out`, a second handle on residual's storage; residual's values are gone.
int ct_conv2d_fused_add_relu_into(ct_tensor *out, ct_tensor residual, ct_tensor input, ct_tensor weight,
                                  ct_tensor bias, const int64_t *stride, const int64_t *padding,
                                  const int64_t *dilation, int64_t groups);

// MARK: Serialization

/// Writes a {name: tensor} dictionary that Python's torch.load reads.
int ct_save_pickled(const char *path, const char *const *names, const ct_tensor *tensors,
                    int count);

#ifdef __cplusplus
}
#endif

#endif
