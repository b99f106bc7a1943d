// The NCCL half of the shim's distributed part, built into a library of its own
// (liborthocxr_torch_nccl.so) and only against a libtorch with CUDA: ProcessGroupNCCL lives in
// libtorch_cuda.so, which the main shim does not link, so that one build of the main shim runs on
// machines without CUDA. The main shim opens this library (beside itself) when a group asks for NCCL,
// after the CUDA backend has been loaded, and calls the one function below.
//
// The wheels ship ProcessGroupNCCL.hpp but not the CUDA toolkit headers it needs (crt/host_config.h
// is missing from nvidia-cuda-runtime), so, as for ProcessGroupGloo in ctorch.cpp, this file declares
// the members it calls — ProcessGroupNCCL's constructor and destructor and Options(bool), exported by
// libtorch_cuda with these signatures — and over-allocates the objects (`reserved_`, far more than the
// real classes' members need). The real constructors lay the objects out and install the real
// vtables; the real (virtual) destructors free them. A libtorch whose signatures differ fails to link
// this library (loud), and the main shim then says that NCCL is unavailable and why.

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace c10d {
class TORCH_API ProcessGroupNCCL : public Backend {
 public:
  struct TORCH_API Options : Backend::Options {
    explicit Options(bool is_high_priority_stream);
    // Declared, not defined here: only the real one, through the real vtable, ever runs.
    ~Options() override;

   private:
    alignas(64) unsigned char reserved_[16384];
  };
  // The store came by const reference until about 2.5 and by value since; scripts/build-shim tries
  // by value first, then defines CT_NCCL_STORE_BY_REFERENCE.
#ifdef CT_NCCL_STORE_BY_REFERENCE
  ProcessGroupNCCL(const c10::intrusive_ptr<Store> &store, int rank, int size, c10::intrusive_ptr<Options> options);
#else
  ProcessGroupNCCL(c10::intrusive_ptr<Store> store, int rank, int size, c10::intrusive_ptr<Options> options);
#endif
  ~ProcessGroupNCCL() override;

 private:
  alignas(64) unsigned char reserved_[262144];
};
}  // namespace c10d

/// A new NCCL backend for rank `rank` of `size` over `store`, whose collectives fail after `timeout`;
/// returned with one reference that the caller adopts (intrusive_ptr::reclaim). Communicators are
/// made on the first collective, on the device of its tensors. Throws c10::Error.
extern "C" __attribute__((visibility("default"))) c10d::Backend *ct_nccl_make_backend(
    const c10::intrusive_ptr<c10d::Store> &store, int rank, int size, std::chrono::milliseconds timeout) {
  auto options = c10::make_intrusive<c10d::ProcessGroupNCCL::Options>(false);
  options->timeout = timeout;
  auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, std::move(options));
  return backend.release();
}
