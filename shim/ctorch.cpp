// The implementation of ctorch.h: argument conversion and exception capture, nothing else.
#ifdef ORTHOCXR_LIBTORCH_MISSING
#error "libtorch 2.15.0 was not found. Run `scripts/bootstrap` (or set LIBTORCH to a folder holding torch/ and nvidia/) and build again."
#endif

#include "ctorch.h"
#include "ctorch_distributed.h"

#include <ATen/autocast_mode.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <atomic>
#include <cmath>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace {

thread_local std::string last_error;

at::Tensor &T(ct_tensor t) { return *reinterpret_cast<at::Tensor *>(t); }
ct_tensor wrap(at::Tensor t) { return reinterpret_cast<ct_tensor>(new at::Tensor(std::move(t))); }
at::Tensor optional_tensor(ct_tensor t) { return t ? T(t) : at::Tensor(); }
at::IntArrayRef dims(const int64_t *d, int n) { return at::IntArrayRef(d, static_cast<size_t>(n)); }
at::ScalarType scalar_type(int dtype) { return static_cast<at::ScalarType>(dtype); }
at::TensorOptions options(int dtype, int device_type, int device_index) {
  return at::TensorOptions()
      .dtype(scalar_type(dtype))
      .device(at::Device(static_cast<at::DeviceType>(device_type),
                         static_cast<c10::DeviceIndex>(device_index)));
}
at::MemoryFormat memory_format(int format) {
  switch (format) {
    case CT_CHANNELS_LAST: return at::MemoryFormat::ChannelsLast;
    case CT_PRESERVE: return at::MemoryFormat::Preserve;
    default: return at::MemoryFormat::Contiguous;
  }
}
// A Swift number arrives as a double; an integral one becomes an integer scalar, as a Python int
// literal would, so that in-place updates of integer tensors (num_batches_tracked += 1) work.
at::Scalar scalar(double value) {
  if (std::nearbyint(value) == value && std::abs(value) < 9.0e15) {
    return at::Scalar(static_cast<int64_t>(value));
  }
  return at::Scalar(value);
}
std::vector<at::Tensor> tensor_list(const ct_tensor *ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v.push_back(T(ts[i]));
  return v;
}

}  // namespace

#define PROTECT(...)                      \
  try {                                   \
    __VA_ARGS__;                          \
    return 0;                             \
  } catch (const c10::Error &e) {         \
    last_error = e.what_without_backtrace(); \
    return 1;                             \
  } catch (const std::exception &e) {     \
    last_error = e.what();                \
    return 1;                             \
  } catch (...) {                         \
    last_error = "unknown C++ exception"; \
    return 1;                             \
  }

#define UNARY(name, expr) \
  int ct_##name(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(expr(T(t)))) }
#define BINARY(name, expr) \
  int ct_##name(ct_tensor *out, ct_tensor a, ct_tensor b) { PROTECT(*out = wrap(expr(T(a), T(b)))) }
#define WITH_SCALAR(name, expr) \
  int ct_##name(ct_tensor *out, ct_tensor t, double value) { PROTECT(*out = wrap(expr(T(t), scalar(value)))) }

extern "C" {

// MARK: Errors and runtime

const char *ct_last_error(void) { return last_error.c_str(); }
const char *ct_version(void) { return TORCH_VERSION; }
void ct_set_num_threads(int threads) { at::set_num_threads(threads); }
int ct_get_num_threads(void) { return at::get_num_threads(); }
namespace {
// libtorch decides once per process whether CUDA exists, the first time anything asks (its CUDA hooks
// are a function-local static): asking before libtorch_cuda.so is loaded disables CUDA for good. So
// nothing here asks until ct_load_cuda_backend has loaded it.
std::atomic<bool> cuda_backend_loaded{false};
}  // namespace

void ct_manual_seed(uint64_t seed) {
  if (cuda_backend_loaded) {
    torch::manual_seed(seed);  // the CPU generator and every CUDA device's
    return;
  }
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_current_seed(seed);
}
int ct_get_rng_state(ct_tensor *out) {
  PROTECT({
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    *out = wrap(generator.get_state());
  })
}
int ct_set_rng_state(ct_tensor state) {
  PROTECT({
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(T(state));
  })
}
int ct_load_library(const char *path) {
  if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char *message = dlerror();
    last_error = message ? message : "dlopen failed";
    return 1;
  }
  return 0;
}
int ct_load_cuda_backend(void) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (cuda_backend_loaded) return 0;
  if (dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char *message = dlerror();
    last_error = message ? message : "dlopen failed";
    return 1;
  }
  cuda_backend_loaded = true;
  return 0;
}
int ct_cuda_is_available(void) { return cuda_backend_loaded && torch::cuda::is_available() ? 1 : 0; }
int ct_cuda_device_count(void) {
  return cuda_backend_loaded ? static_cast<int>(torch::cuda::device_count()) : 0;
}
int ct_cuda_synchronize(int device_index) { PROTECT(torch::cuda::synchronize(device_index)) }
void ct_set_cuda_tf32(int convolutions, int matrix_products) {
  at::globalContext().setAllowTF32CuDNN(convolutions != 0);
  at::globalContext().setAllowTF32CuBLAS(matrix_products != 0);
}

void ct_set_grad_enabled(int enabled) { c10::GradMode::set_enabled(enabled != 0); }
int ct_is_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

void ct_autocast_set_enabled(int device_type, int enabled) {
  at::autocast::set_autocast_enabled(static_cast<at::DeviceType>(device_type), enabled != 0);
}
int ct_autocast_is_enabled(int device_type) {
  return at::autocast::is_autocast_enabled(static_cast<at::DeviceType>(device_type)) ? 1 : 0;
}
void ct_autocast_set_dtype(int device_type, int dtype) {
  at::autocast::set_autocast_dtype(static_cast<at::DeviceType>(device_type), scalar_type(dtype));
}
int ct_autocast_get_dtype(int device_type) {
  return static_cast<int>(at::autocast::get_autocast_dtype(static_cast<at::DeviceType>(device_type)));
}
int ct_autocast_increment_nesting(void) { return at::autocast::increment_nesting(); }
int ct_autocast_decrement_nesting(void) { return at::autocast::decrement_nesting(); }
void ct_autocast_clear_cache(void) { at::autocast::clear_cache(); }

// MARK: Lifetime and properties

void ct_free(ct_tensor t) { delete reinterpret_cast<at::Tensor *>(t); }
int ct_shallow_clone(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t))) }
int ct_defined(ct_tensor t) { return T(t).defined() ? 1 : 0; }
int ct_dim(ct_tensor t) { return static_cast<int>(T(t).dim()); }
void ct_sizes(ct_tensor t, int64_t *sizes) {
  auto s = T(t).sizes();
  std::copy(s.begin(), s.end(), sizes);
}
void ct_strides(ct_tensor t, int64_t *strides) {
  auto s = T(t).strides();
  std::copy(s.begin(), s.end(), strides);
}
int64_t ct_numel(ct_tensor t) { return T(t).numel(); }
int ct_dtype(ct_tensor t) { return static_cast<int>(T(t).scalar_type()); }
int ct_device_type(ct_tensor t) { return static_cast<int>(T(t).device().type()); }
int ct_device_index(ct_tensor t) { return T(t).device().index(); }
int ct_is_contiguous(ct_tensor t, int format) {
  return T(t).is_contiguous(memory_format(format)) ? 1 : 0;
}
int ct_requires_grad(ct_tensor t) { return T(t).requires_grad() ? 1 : 0; }
int ct_is_leaf(ct_tensor t) { return T(t).is_leaf() ? 1 : 0; }

// MARK: Creation

int ct_from_blob(ct_tensor *out, const void *data, const int64_t *shape, int ndim, int dtype) {
  PROTECT(*out = wrap(at::from_blob(const_cast<void *>(data), dims(shape, ndim),
                                    at::TensorOptions().dtype(scalar_type(dtype)))
                          .clone()))
}
int ct_from_blob_owned(ct_tensor *out, void *data, const int64_t *shape, int ndim, int dtype, void *owner,
                       void (*release)(void *owner)) {
  PROTECT(*out = wrap(at::from_blob(data, dims(shape, ndim), [owner, release](void *) { release(owner); },
                                    at::TensorOptions().dtype(scalar_type(dtype)))))
}
int ct_empty(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
             int device_index) {
  PROTECT(*out = wrap(at::empty(dims(shape, ndim), options(dtype, device_type, device_index))))
}
int ct_full(ct_tensor *out, const int64_t *shape, int ndim, double value, int dtype, int device_type,
            int device_index) {
  PROTECT(*out = wrap(at::full(dims(shape, ndim), scalar(value), options(dtype, device_type, device_index))))
}
int ct_randn(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
             int device_index) {
  PROTECT(*out = wrap(at::randn(dims(shape, ndim), options(dtype, device_type, device_index))))
}
int ct_rand(ct_tensor *out, const int64_t *shape, int ndim, int dtype, int device_type,
            int device_index) {
  PROTECT(*out = wrap(at::rand(dims(shape, ndim), options(dtype, device_type, device_index))))
}
int ct_randint(ct_tensor *out, int64_t low, int64_t high, const int64_t *shape, int ndim,
               int device_type, int device_index) {
  PROTECT(*out = wrap(
              at::randint(low, high, dims(shape, ndim), options(CT_INT64, device_type, device_index))))
}
int ct_randperm(ct_tensor *out, int64_t n) { PROTECT(*out = wrap(at::randperm(n))) }
int ct_arange(ct_tensor *out, double start, double end, double step, int dtype, int device_type,
              int device_index) {
  PROTECT(*out = wrap(at::arange(start, end, step, options(dtype, device_type, device_index))))
}
int ct_eye(ct_tensor *out, int64_t n, int dtype, int device_type, int device_index) {
  PROTECT(*out = wrap(at::eye(n, options(dtype, device_type, device_index))))
}

// MARK: Host transfer

int ct_copy_to_host(ct_tensor t, void *data, size_t nbytes) {
  PROTECT({
    at::Tensor host = T(t).detach().to(at::kCPU).contiguous();
    size_t size = static_cast<size_t>(host.numel()) * host.element_size();
    TORCH_CHECK(size == nbytes, "copy to host: the tensor holds ", size, " bytes, the buffer ",
                nbytes);
    if (size > 0) std::memcpy(data, host.data_ptr(), size);
  })
}
int ct_cpu_data(ct_tensor t, void **data) {
  PROTECT({
    const at::Tensor &tensor = T(t);
    TORCH_CHECK(tensor.device().is_cpu(), "writing in place needs a CPU tensor, not one on ", tensor.device());
    TORCH_CHECK(tensor.is_contiguous(), "writing in place needs a contiguous tensor");
    *data = tensor.data_ptr();
  })
}
int ct_item_double(ct_tensor t, double *value) { PROTECT(*value = T(t).item<double>()) }
int ct_item_int64(ct_tensor t, int64_t *value) { PROTECT(*value = T(t).item<int64_t>()) }

// MARK: Autograd

int ct_set_requires_grad(ct_tensor t, int requires_grad) {
  PROTECT(T(t).set_requires_grad(requires_grad != 0))
}
int ct_backward(ct_tensor t, ct_tensor gradient, int retain_graph, int create_graph) {
  PROTECT(T(t).backward(optional_tensor(gradient),
                        retain_graph ? std::optional<bool>(true) : std::nullopt, create_graph != 0))
}
int ct_grad(ct_tensor *out, ct_tensor t) {
  PROTECT({
    const at::Tensor &g = T(t).grad();
    *out = g.defined() ? wrap(g) : nullptr;
  })
}
int ct_clear_grad(ct_tensor t) { PROTECT(T(t).mutable_grad().reset()) }
int ct_retain_grad(ct_tensor t) { PROTECT(T(t).retain_grad()) }
int ct_detach(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).detach())) }
int ct_set_data(ct_tensor t, ct_tensor new_data) { PROTECT(T(t).set_data(T(new_data))) }
int ct_autograd_grad(ct_tensor *out, const ct_tensor *outputs, const ct_tensor *grad_outputs,
                     int noutputs, const ct_tensor *inputs, int ninputs, int retain_graph,
                     int create_graph) {
  PROTECT({
    std::vector<at::Tensor> gouts =
        grad_outputs ? tensor_list(grad_outputs, noutputs) : std::vector<at::Tensor>();
    auto grads = torch::autograd::grad(tensor_list(outputs, noutputs), tensor_list(inputs, ninputs),
                                       gouts, retain_graph ? std::optional<bool>(true) : std::nullopt,
                                       create_graph != 0, /*allow_unused=*/true);
    for (int i = 0; i < ninputs; ++i) out[i] = grads[i].defined() ? wrap(grads[i]) : nullptr;
  })
}

// MARK: Element-wise, one operand

UNARY(neg, at::neg)
UNARY(exp, at::exp)
UNARY(log, at::log)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(abs, at::abs)
UNARY(sign, at::sign)
UNARY(relu, at::relu)
UNARY(sigmoid, at::sigmoid)
UNARY(tanh, at::tanh)
UNARY(floor, at::floor)
UNARY(logical_not, at::logical_not)
UNARY(isfinite, at::isfinite)
WITH_SCALAR(pow_scalar, at::pow)
int ct_clamp(ct_tensor *out, ct_tensor t, double min, double max) {
  PROTECT(*out = wrap(at::clamp(T(t), min, max)))
}
WITH_SCALAR(clamp_min, at::clamp_min)

// MARK: Element-wise, two operands

BINARY(add, at::add)
BINARY(sub, at::sub)
BINARY(mul, at::mul)
BINARY(div, at::div)
BINARY(pow, at::pow)
BINARY(maximum, at::maximum)
BINARY(minimum, at::minimum)
BINARY(eq, at::eq)
BINARY(ne, at::ne)
BINARY(lt, at::lt)
BINARY(le, at::le)
BINARY(gt, at::gt)
BINARY(ge, at::ge)
BINARY(logical_and, at::logical_and)
BINARY(logical_or, at::logical_or)
BINARY(matmul, at::matmul)
WITH_SCALAR(add_scalar, at::add)
WITH_SCALAR(mul_scalar, at::mul)
WITH_SCALAR(div_scalar, at::div)
WITH_SCALAR(eq_scalar, at::eq)
WITH_SCALAR(lt_scalar, at::lt)
WITH_SCALAR(gt_scalar, at::gt)
int ct_where(ct_tensor *out, ct_tensor condition, ct_tensor a, ct_tensor b) {
  PROTECT(*out = wrap(at::where(T(condition), T(a), T(b))))
}
int ct_masked_fill(ct_tensor *out, ct_tensor t, ct_tensor mask, double value) {
  PROTECT(*out = wrap(T(t).masked_fill(T(mask), scalar(value))))
}

// MARK: In place

int ct_add_(ct_tensor t, ct_tensor other, double alpha) { PROTECT(T(t).add_(T(other), alpha)) }
int ct_relu_(ct_tensor t) { PROTECT(at::relu_(T(t))) }
int ct_add_scalar_(ct_tensor t, double value) { PROTECT(T(t).add_(scalar(value))) }
int ct_mul_(ct_tensor t, ct_tensor other) { PROTECT(T(t).mul_(T(other))) }
int ct_mul_scalar_(ct_tensor t, double value) { PROTECT(T(t).mul_(scalar(value))) }
int ct_div_(ct_tensor t, ct_tensor other) { PROTECT(T(t).div_(T(other))) }
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, double value) {
  PROTECT(T(t).addcmul_(T(a), T(b), value))
}
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, double value) {
  PROTECT(T(t).addcdiv_(T(a), T(b), value))
}
int ct_lerp_(ct_tensor t, ct_tensor end, double weight) { PROTECT(T(t).lerp_(T(end), weight)) }

// MARK: Multi-tensor (foreach) operations: one call, and on a GPU a few kernels, for a whole list.

namespace {
void write_list(ct_tensor *outs, const std::vector<at::Tensor> &results) {
  for (size_t i = 0; i < results.size(); ++i) outs[i] = wrap(results[i]);
}
}  // namespace

int ct_foreach_mul_scalar_(const ct_tensor *ts, int n, double value) {
  PROTECT(at::_foreach_mul_(tensor_list(ts, n), scalar(value)))
}
int ct_foreach_add_scalar_(const ct_tensor *ts, int n, double value) {
  PROTECT(at::_foreach_add_(tensor_list(ts, n), scalar(value)))
}
int ct_foreach_div_scalar_(const ct_tensor *ts, int n, double value) {
  PROTECT(at::_foreach_div_(tensor_list(ts, n), scalar(value)))
}
int ct_foreach_add_list_(const ct_tensor *ts, const ct_tensor *others, int n, double alpha) {
  PROTECT(at::_foreach_add_(tensor_list(ts, n), tensor_list(others, n), scalar(alpha)))
}
int ct_foreach_add_list(ct_tensor *outs, const ct_tensor *ts, const ct_tensor *others, int n, double alpha) {
  PROTECT(write_list(outs, at::_foreach_add(tensor_list(ts, n), tensor_list(others, n), scalar(alpha))))
}
int ct_foreach_lerp_scalar_(const ct_tensor *ts, const ct_tensor *ends, int n, double weight) {
  PROTECT(at::_foreach_lerp_(tensor_list(ts, n), tensor_list(ends, n), scalar(weight)))
}
int ct_foreach_addcmul_scalar_(const ct_tensor *ts, const ct_tensor *a, const ct_tensor *b, int n, double value) {
  PROTECT(at::_foreach_addcmul_(tensor_list(ts, n), tensor_list(a, n), tensor_list(b, n), scalar(value)))
}
int ct_foreach_addcdiv_scalar_(const ct_tensor *ts, const ct_tensor *a, const ct_tensor *b, int n, double value) {
  PROTECT(at::_foreach_addcdiv_(tensor_list(ts, n), tensor_list(a, n), tensor_list(b, n), scalar(value)))
}
int ct_foreach_sqrt(ct_tensor *outs, const ct_tensor *ts, int n) {
  PROTECT(write_list(outs, at::_foreach_sqrt(tensor_list(ts, n))))
}
int ct_copy_(ct_tensor t, ct_tensor src) { PROTECT(T(t).copy_(T(src))) }
int ct_zero_(ct_tensor t) { PROTECT(T(t).zero_()) }
int ct_fill_(ct_tensor t, double value) { PROTECT(T(t).fill_(scalar(value))) }
int ct_normal_(ct_tensor t, double mean, double std) { PROTECT(T(t).normal_(mean, std)) }
int ct_uniform_(ct_tensor t, double from, double to) { PROTECT(T(t).uniform_(from, to)) }

// MARK: Shape and layout

int ct_reshape(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim) {
  PROTECT(*out = wrap(T(t).reshape(dims(shape, ndim))))
}
int ct_permute(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim) {
  PROTECT(*out = wrap(T(t).permute(dims(d, ndim))))
}
int ct_transpose(ct_tensor *out, ct_tensor t, int64_t dim0, int64_t dim1) {
  PROTECT(*out = wrap(T(t).transpose(dim0, dim1)))
}
int ct_expand(ct_tensor *out, ct_tensor t, const int64_t *shape, int ndim) {
  PROTECT(*out = wrap(T(t).expand(dims(shape, ndim))))
}
int ct_contiguous(ct_tensor *out, ct_tensor t, int format) {
  PROTECT({
    auto layout = memory_format(format);
    at::Tensor result = T(t).contiguous(layout);
    // A tensor with 1x1 spatial size is channels-last "already", but keeps its old strides; autograd
    // gives its gradient the canonical channels-last strides, and DDP's reducer warns about the
    // mismatch. The canonical strides avoid that (the bytes are the same).
    if (layout == at::MemoryFormat::ChannelsLast && result.dim() == 4) {
      at::Tensor canonical = at::empty_like(result, at::MemoryFormat::ChannelsLast);
      if (canonical.strides() != result.strides()) result = canonical.copy_(result);
    }
    *out = wrap(result);
  })
}
int ct_squeeze(ct_tensor *out, ct_tensor t, int64_t dim) { PROTECT(*out = wrap(T(t).squeeze(dim))) }
int ct_unsqueeze(ct_tensor *out, ct_tensor t, int64_t dim) {
  PROTECT(*out = wrap(T(t).unsqueeze(dim)))
}
int ct_flatten(ct_tensor *out, ct_tensor t, int64_t start_dim, int64_t end_dim) {
  PROTECT(*out = wrap(T(t).flatten(start_dim, end_dim)))
}
int ct_slice(ct_tensor *out, ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  PROTECT(*out = wrap(T(t).slice(dim, start, end, step)))
}
int ct_select(ct_tensor *out, ct_tensor t, int64_t dim, int64_t index) {
  PROTECT(*out = wrap(T(t).select(dim, index)))
}
int ct_index_select(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index) {
  PROTECT(*out = wrap(T(t).index_select(dim, T(index))))
}
int ct_gather(ct_tensor *out, ct_tensor t, int64_t dim, ct_tensor index) {
  PROTECT(*out = wrap(T(t).gather(dim, T(index))))
}
int ct_flip(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim) {
  PROTECT(*out = wrap(T(t).flip(dims(d, ndim))))
}
int ct_as_strided(ct_tensor *out, ct_tensor t, const int64_t *size, const int64_t *stride, int ndim,
                  int64_t storage_offset) {
  PROTECT(*out = wrap(T(t).as_strided(dims(size, ndim), dims(stride, ndim), storage_offset)))
}
int ct_cat(ct_tensor *out, const ct_tensor *tensors, int count, int64_t dim) {
  PROTECT(*out = wrap(at::cat(tensor_list(tensors, count), dim)))
}
int ct_stack(ct_tensor *out, const ct_tensor *tensors, int count, int64_t dim) {
  PROTECT(*out = wrap(at::stack(tensor_list(tensors, count), dim)))
}
int ct_one_hot(ct_tensor *out, ct_tensor t, int64_t num_classes) {
  PROTECT(*out = wrap(at::one_hot(T(t), num_classes)))
}
int ct_to_dtype(ct_tensor *out, ct_tensor t, int dtype) {
  PROTECT(*out = wrap(T(t).to(scalar_type(dtype))))
}
int ct_to_device(ct_tensor *out, ct_tensor t, int device_type, int device_index, int non_blocking) {
  PROTECT(*out = wrap(T(t).to(at::Device(static_cast<at::DeviceType>(device_type),
                                         static_cast<c10::DeviceIndex>(device_index)),
                              /*non_blocking=*/non_blocking != 0)))
}
int ct_pin_memory(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).pin_memory())) }
int ct_is_pinned(ct_tensor t) {
  try {
    return T(t).is_pinned() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}
int ct_clone(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).clone())) }

// MARK: Reductions

int ct_sum(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).sum())) }
int ct_sum_dims(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim, int keepdim) {
  PROTECT(*out = wrap(T(t).sum(dims(d, ndim), keepdim != 0)))
}
int ct_mean(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).mean())) }
int ct_mean_dims(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim, int keepdim) {
  PROTECT(*out = wrap(T(t).mean(dims(d, ndim), keepdim != 0)))
}
int ct_var_dims(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim, int unbiased, int keepdim) {
  PROTECT(*out = wrap(at::var(T(t), dims(d, ndim), unbiased != 0, keepdim != 0)))
}
int ct_max(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).max())) }
int ct_min(ct_tensor *out, ct_tensor t) { PROTECT(*out = wrap(T(t).min())) }
int ct_max_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim) {
  PROTECT({
    auto result = T(t).max(dim, keepdim != 0);
    *values = wrap(std::get<0>(result));
    *indices = wrap(std::get<1>(result));
  })
}
int ct_min_dim(ct_tensor *values, ct_tensor *indices, ct_tensor t, int64_t dim, int keepdim) {
  PROTECT({
    auto result = T(t).min(dim, keepdim != 0);
    *values = wrap(std::get<0>(result));
    *indices = wrap(std::get<1>(result));
  })
}
int ct_argmax(ct_tensor *out, ct_tensor t, int64_t dim, int keepdim) {
  PROTECT(*out = wrap(T(t).argmax(dim, keepdim != 0)))
}
int ct_logsumexp(ct_tensor *out, ct_tensor t, const int64_t *d, int ndim, int keepdim) {
  PROTECT(*out = wrap(at::logsumexp(T(t), dims(d, ndim), keepdim != 0)))
}
int ct_norm_dims(ct_tensor *out, ct_tensor t, double p, const int64_t *d, int ndim, int keepdim) {
  PROTECT(*out = wrap(at::norm(T(t), p, dims(d, ndim), keepdim != 0)))
}
int ct_softmax(ct_tensor *out, ct_tensor t, int64_t dim) { PROTECT(*out = wrap(at::softmax(T(t), dim))) }
int ct_log_softmax(ct_tensor *out, ct_tensor t, int64_t dim) {
  PROTECT(*out = wrap(at::log_softmax(T(t), dim)))
}

// MARK: Neural-network functions

int ct_conv2d(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
              const int64_t *stride, const int64_t *padding, const int64_t *dilation,
              int64_t groups) {
  PROTECT(*out = wrap(at::conv2d(T(input), T(weight), optional_tensor(bias), dims(stride, 2),
                                 dims(padding, 2), dims(dilation, 2), groups)))
}
int ct_batch_norm(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
                  ct_tensor running_mean, ct_tensor running_var, int training, double momentum,
                  double eps) {
  PROTECT(*out = wrap(at::batch_norm(T(input), optional_tensor(weight), optional_tensor(bias),
                                     optional_tensor(running_mean), optional_tensor(running_var),
                                     training != 0, momentum, eps, /*cudnn_enabled=*/true)))
}
// MARK: Inference: fused convolutions (oneDNN's ops, the ones PyTorch's compiler uses on CPU)

namespace {
// The registered operator, or nullptr where this libtorch lacks it (built without oneDNN). Found
// once; called boxed, which does not depend on the kernel's C++ signature.
const c10::OperatorHandle *mkldnn_op(const char *name, const char *overload) {
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  return handle ? new c10::OperatorHandle(*handle) : nullptr;
}
const c10::OperatorHandle *pointwise() {
  static const c10::OperatorHandle *op = mkldnn_op("mkldnn::_convolution_pointwise", "");
  return op;
}
const c10::OperatorHandle *pointwise_binary() {
  static const c10::OperatorHandle *op = mkldnn_op("mkldnn::_convolution_pointwise", "binary");
  return op;
}
const c10::OperatorHandle *pointwise_binary_in_place() {
  static const c10::OperatorHandle *op = mkldnn_op("mkldnn::_convolution_pointwise_", "binary");
  return op;
}
const c10::OperatorHandle *reorder_weight() {
  static const c10::OperatorHandle *op = mkldnn_op("mkldnn::_reorder_convolution_weight", "");
  return op;
}
std::vector<int64_t> pair(const int64_t *values) { return {values[0], values[1]}; }
at::Tensor call(const c10::OperatorHandle *op, torch::jit::Stack stack) {
  TORCH_CHECK(op != nullptr, "this libtorch has no oneDNN fused convolutions");
  op->callBoxed(&stack);
  return stack.back().toTensor();
}
c10::IValue optional_ivalue(ct_tensor t) { return t ? c10::IValue(T(t)) : c10::IValue(); }
}  // namespace

int ct_fused_convolution_available(void) {
  static const bool available =
      at::hasMKLDNN() && pointwise() && pointwise_binary() && reorder_weight();
  return available ? 1 : 0;
}

int ct_conv2d_prepack_weight(ct_tensor *out, ct_tensor weight, const int64_t *stride,
                             const int64_t *padding, const int64_t *dilation, int64_t groups,
                             const int64_t *input_size) {
  PROTECT(*out = wrap(call(reorder_weight(),
                           {T(weight), pair(padding), pair(stride), pair(dilation), groups,
                            input_size ? c10::IValue(std::vector<int64_t>(input_size, input_size + 4))
                                       : c10::IValue()})))
}

int ct_conv2d_fused(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias,
                    const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                    int64_t groups, int relu) {
  PROTECT(*out = wrap(call(pointwise(), {T(input), T(weight), optional_ivalue(bias), pair(padding),
                                         pair(stride), pair(dilation), groups,
                                         std::string(relu ? "relu" : "none"),
                                         c10::List<std::optional<at::Scalar>>(), c10::IValue()})))
}

namespace {
// relu(conv(input) + residual) through one of mkldnn::_convolution_pointwise's binary forms, whose
// first two arguments are the input and the residual (out of place) or the residual and the input
// (in place: the result is written into the residual).
at::Tensor conv_add_relu(const c10::OperatorHandle *op, const at::Tensor &first, const at::Tensor &second,
                         ct_tensor weight, ct_tensor bias, const int64_t *stride, const int64_t *padding,
                         const int64_t *dilation, int64_t groups) {
  return call(op, {first, second, T(weight), optional_ivalue(bias), pair(padding), pair(stride), pair(dilation),
                   groups, std::string("add"), c10::IValue(), c10::IValue(std::string("relu")),
                   c10::List<std::optional<at::Scalar>>(), c10::IValue()});
}
}  // namespace

int ct_conv2d_fused_add_relu(ct_tensor *out, ct_tensor input, ct_tensor residual, ct_tensor weight,
                             ct_tensor bias, const int64_t *stride, const int64_t *padding,
                             const int64_t *dilation, int64_t groups) {
  PROTECT(*out = wrap(conv_add_relu(pointwise_binary(), T(input), T(residual), weight, bias, stride, padding,
                                    dilation, groups)))
}

int ct_fused_convolution_in_place_available(void) {
  static const bool available = ct_fused_convolution_available() && pointwise_binary_in_place();
  return available ? 1 : 0;
}

int ct_conv2d_fused_add_relu_into(ct_tensor *out, ct_tensor residual, ct_tensor input, ct_tensor weight,
                                  ct_tensor bias, const int64_t *stride, const int64_t *padding,
                                  const int64_t *dilation, int64_t groups) {
  PROTECT(*out = wrap(conv_add_relu(pointwise_binary_in_place(), T(residual), T(input), weight, bias, stride,
                                    padding, dilation, groups)))
}

int ct_linear(ct_tensor *out, ct_tensor input, ct_tensor weight, ct_tensor bias) {
  PROTECT(*out = wrap(at::linear(T(input), T(weight), optional_tensor(bias))))
}
int ct_max_pool2d(ct_tensor *out, ct_tensor input, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, const int64_t *dilation, int ceil_mode) {
  PROTECT(*out = wrap(at::max_pool2d(T(input), dims(kernel, 2), dims(stride, 2), dims(padding, 2),
                                     dims(dilation, 2), ceil_mode != 0)))
}
int ct_avg_pool2d(ct_tensor *out, ct_tensor input, const int64_t *kernel, const int64_t *stride,
                  const int64_t *padding, int ceil_mode, int count_include_pad) {
  PROTECT(*out = wrap(at::avg_pool2d(T(input), dims(kernel, 2), dims(stride, 2), dims(padding, 2),
                                     ceil_mode != 0, count_include_pad != 0)))
}
int ct_adaptive_avg_pool2d(ct_tensor *out, ct_tensor input, const int64_t *output_size) {
  PROTECT(*out = wrap(at::adaptive_avg_pool2d(T(input), dims(output_size, 2))))
}
int ct_dropout(ct_tensor *out, ct_tensor input, double p, int training) {
  PROTECT(*out = wrap(at::dropout(T(input), p, training != 0)))
}
int ct_upsample_bilinear2d(ct_tensor *out, ct_tensor input, const int64_t *output_size,
                           int align_corners) {
  PROTECT(*out = wrap(at::upsample_bilinear2d(T(input), dims(output_size, 2), align_corners != 0)))
}
int ct_cross_entropy(ct_tensor *out, ct_tensor logits, ct_tensor target, ct_tensor weight,
                     int reduction, int64_t ignore_index, double label_smoothing) {
  PROTECT(*out = wrap(at::cross_entropy_loss(T(logits), T(target), optional_tensor(weight),
                                             reduction, ignore_index, label_smoothing)))
}
int ct_mse_loss(ct_tensor *out, ct_tensor input, ct_tensor target, int reduction) {
  PROTECT(*out = wrap(at::mse_loss(T(input), T(target), reduction)))
}

// MARK: Serialization

int ct_save_pickled(const char *path, const char *const *names, const ct_tensor *tensors,
                    int count) {
  PROTECT({
    c10::Dict<std::string, at::Tensor> dict;
    for (int i = 0; i < count; ++i) dict.insert(names[i], T(tensors[i]).detach().to(at::kCPU));
    std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
    std::ofstream file(path, std::ios::binary);
    TORCH_CHECK(file.good(), "cannot write ", path);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    TORCH_CHECK(file.good(), "failed writing ", path);
  })
}

}  // extern "C"

// MARK: Distributed (c10d): a TCPStore rendezvous, Gloo collectives, the DDP Reducer

// The wheel ships c10d's headers but not Gloo's, and ProcessGroupGloo.hpp includes Gloo's. So this
// file declares the part of ProcessGroupGloo it calls — the constructor, the destructor and
// Options::create_default, all exported by libtorch_cpu with these exact signatures in 2.11 through
// 2.15 — instead of including its header. The object is allocated with room to spare
// (`reserved_`, far more than the real class's members need); the real constructor lays it out and
// installs the real vtable, and the real (virtual) destructor frees it. If a future libtorch changes
// these signatures, the shim fails to link: loud, not silent.
namespace gloo::transport {
class Device;
}
namespace c10d {
class TORCH_API ProcessGroupGloo : public Backend {
 public:
  struct TORCH_API Options : public Backend::Options {
    static c10::intrusive_ptr<Options> create_default(std::chrono::milliseconds timeout);
  };
  explicit ProcessGroupGloo(const c10::intrusive_ptr<Store> &store, int rank, int size,
                            c10::intrusive_ptr<Options> options);
  ~ProcessGroupGloo() override;

 private:
  alignas(64) unsigned char reserved_[16384];
};
}  // namespace c10d

struct ct_group_opaque {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};
struct ct_reducer_opaque {
  std::unique_ptr<c10d::Reducer> reducer;
};

namespace {
c10d::ProcessGroup &G(ct_group group) { return *group->group; }

// A sum over the group that autograd can see through: the gradient of every rank's input is the sum
// of every rank's output gradient (what synchronized BatchNorm needs for its statistics).
struct DifferentiableAllReduce : public torch::autograd::Function<DifferentiableAllReduce> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &input,
                            int64_t group_address) {
    ctx->saved_data["group"] = group_address;
    std::vector<at::Tensor> buffer{input.clone()};
    reinterpret_cast<c10d::ProcessGroup *>(group_address)->allreduce(buffer)->wait();
    return buffer[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list gradients) {
    auto *group = reinterpret_cast<c10d::ProcessGroup *>(ctx->saved_data["group"].toInt());
    std::vector<at::Tensor> buffer{gradients[0].contiguous().clone()};
    group->allreduce(buffer)->wait();
    return {buffer[0], at::Tensor()};
  }
};
}  // namespace

namespace {
// The NCCL backend's maker, from liborthocxr_torch_nccl.so beside this library (see
// shim/ctorch_nccl.cpp), opened once; nullptr with the reason in `why` when it cannot be had.
using NCCLBackendMaker = c10d::Backend *(*)(const c10::intrusive_ptr<c10d::Store> &, int, int,
                                            std::chrono::milliseconds);
NCCLBackendMaker nccl_backend_maker(std::string &why) {
  static std::mutex mutex;
  static NCCLBackendMaker maker = nullptr;
  static std::string reason;
  std::lock_guard<std::mutex> lock(mutex);
  if (maker != nullptr) return maker;
  if (!cuda_backend_loaded) {
    why = "the CUDA backend is not loaded (NCCL carries CUDA tensors; use --device cuda)";
    return nullptr;
  }
  if (reason.empty()) {
    Dl_info self{};
    std::string folder = ".";
    if (dladdr(reinterpret_cast<void *>(&ct_group_join), &self) != 0 && self.dli_fname != nullptr) {
      folder = self.dli_fname;
      folder = folder.substr(0, folder.find_last_of('/'));
    }
    std::string path = folder + "/liborthocxr_torch_nccl.so";
    void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char *message = dlerror();
      reason = std::string(message ? message : "dlopen failed") +
               " (scripts/build-shim builds it when the libtorch has CUDA)";
    } else if (auto symbol = dlsym(library, "ct_nccl_make_backend")) {
      maker = reinterpret_cast<NCCLBackendMaker>(symbol);
      return maker;
    } else {
      reason = path + " has no ct_nccl_make_backend";
    }
  }
  why = reason;
  return nullptr;
}
}  // namespace

extern "C" {

int ct_nccl_available(void) {
  std::string why;
  if (nccl_backend_maker(why) != nullptr) return 1;
  last_error = why;
  return 0;
}

int ct_group_join(ct_group *out, const char *host, int port, int rank, int world_size,
                  double timeout_seconds, double collective_timeout_seconds, int cuda_backend) {
  PROTECT({
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    auto collective_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(collective_timeout_seconds * 1000));
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.isServer = rank == 0;
    options.numWorkers = static_cast<std::size_t>(world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), options);
    // GLOO_SOCKET_IFNAME, when set, names the network interface (create_default reads it).
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo/", store), rank, world_size,
        c10d::ProcessGroupGloo::Options::create_default(collective_timeout));
    auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world_size);
    group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    if (cuda_backend == CT_GROUP_CUDA_NCCL) {
      // CUDA tensors through NCCL (GPU to GPU), CPU tensors (flags, statistics) still through Gloo:
      // PyTorch's "cpu:gloo,cuda:nccl".
      std::string why;
      auto maker = nccl_backend_maker(why);
      TORCH_CHECK(maker != nullptr, "NCCL is not available: ", why);
      auto nccl = c10::intrusive_ptr<c10d::Backend>::reclaim(
          maker(c10::make_intrusive<c10d::PrefixStore>("nccl/", store), rank, world_size, collective_timeout));
      group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
    } else {
      // Gloo also reduces and broadcasts CUDA tensors (through host memory): slower than NCCL, but it
      // works wherever Gloo does, several processes sharing one GPU included.
      group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::GLOO, gloo);
    }
    group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    *out = new ct_group_opaque{store, group};
  })
}
void ct_group_free(ct_group group) {
  // A normal end, as destroy_process_group: NCCL's communicators are finalised (Gloo has nothing to
  // do) instead of being torn down by the destructor with a warning.
  try {
    group->group->shutdown();
  } catch (...) {
  }
  delete group;
}
int ct_group_rank(ct_group group) { return G(group).getRank(); }
int ct_group_size(ct_group group) { return G(group).getSize(); }

int ct_group_allreduce_sum(ct_group group, const ct_tensor *ts, int n) {
  PROTECT({
    // One flat buffer per call: Gloo's multi-tensor allreduce means "tensors of one process on
    // several devices", not n independent reductions.
    std::vector<at::Tensor> tensors = tensor_list(ts, n);
    std::vector<at::Tensor> flat_parts;
    for (auto &t : tensors) flat_parts.push_back(t.reshape({-1}));
    std::vector<at::Tensor> buffer{at::cat(flat_parts)};
    G(group).allreduce(buffer)->wait();
    int64_t offset = 0;
    for (auto &t : tensors) {
      t.copy_(buffer[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  })
}
int ct_group_broadcast(ct_group group, const ct_tensor *ts, int n, int root) {
  PROTECT({
    for (int i = 0; i < n; ++i) {
      std::vector<at::Tensor> one{T(ts[i])};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      G(group).broadcast(one, options)->wait();
    }
  })
}
int ct_group_barrier(ct_group group) { PROTECT(G(group).barrier()->wait()) }
int ct_group_allreduce_sum_differentiable(ct_tensor *out, ct_group group, ct_tensor t) {
  PROTECT(*out = wrap(DifferentiableAllReduce::apply(
              T(t).contiguous(), reinterpret_cast<int64_t>(group->group.get()))))
}

int ct_reducer_create(ct_reducer *out, ct_group group, const ct_tensor *params, int n,
                      int64_t bucket_bytes) {
  PROTECT({
    std::vector<at::Tensor> parameters = tensor_list(params, n);
    for (size_t i = 0; i < parameters.size(); ++i) {
      TORCH_CHECK(parameters[i].requires_grad() && parameters[i].is_leaf(), "parameter ", i,
                  " is not a leaf that requires gradients: the reducer cannot hook it");
    }
    std::vector<bool> sparse(parameters.size(), false);
    // As DistributedDataParallel: a small first bucket (1 MiB) so that communication starts early,
    // then buckets of bucket_bytes; buckets in reverse order, the order gradients become ready.
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        parameters, {static_cast<size_t>(1024 * 1024), static_cast<size_t>(bucket_bytes)}, sparse);
    std::reverse(buckets.begin(), buckets.end());
    std::vector<int64_t> caps(limits.rbegin(), limits.rend());
    auto reducer = std::make_unique<c10d::Reducer>(
        parameters, buckets, group->group, sparse, bucket_bytes,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
        std::unordered_map<size_t, std::string>(), /*first_bucket_bytes_cap=*/1024 * 1024,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, caps);
    *out = new ct_reducer_opaque{std::move(reducer)};
  })
}
void ct_reducer_free(ct_reducer reducer) {
  try {
    delete reducer;
  } catch (...) {
  }
}
int ct_reducer_prepare_for_forward(ct_reducer reducer) {
  PROTECT({
    reducer->reducer->rebuild_buckets();
    reducer->reducer->prepare_for_forward();
  })
}
int ct_reducer_prepare_for_backward(ct_reducer reducer) {
  PROTECT(reducer->reducer->prepare_for_backward({}))
}

}  // extern "C"
