// CTorch, distributed part: PyTorch's own c10d — a TCPStore rendezvous, Gloo collectives on CPU
// tensors, and the Reducer of DistributedDataParallel — behind the same rules as ctorch.h (opaque
// handles, 0/1 status with ct_last_error).
#ifndef CTORCH_DISTRIBUTED_H
#define CTORCH_DISTRIBUTED_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_group_opaque *ct_group;
typedef struct ct_reducer_opaque *ct_reducer;

/// How a group carries CUDA tensors: through Gloo (host memory; any number of processes per GPU) or
/// through NCCL (GPU to GPU; one GPU per process).
enum { CT_GROUP_CUDA_GLOO = 0, CT_GROUP_CUDA_NCCL = 1 };

/// Whether NCCL can be used: the CUDA backend is loaded and liborthocxr_torch_nccl.so (built beside
/// the shim against a libtorch with CUDA) loads. 0 with the reason in ct_last_error.
int ct_nccl_available(void);

/// Joins a group of world_size processes: rank 0 serves a TCPStore on host:port, the others connect
/// to it; all wait up to timeout_seconds for the whole group. CPU tensors go through Gloo (TCP), on
/// the interface named by GLOO_SOCKET_IFNAME when it is set; CUDA tensors as cuda_backend says.
/// Collectives fail after collective_timeout_seconds.
int ct_group_join(ct_group *out, const char *host, int port, int rank, int world_size, double timeout_seconds,
                  double collective_timeout_seconds, int cuda_backend);
void ct_group_free(ct_group group);
int ct_group_rank(ct_group group);
int ct_group_size(ct_group group);
/// Sums each tensor over the group, in place (one flat buffer on the wire), and waits.
int ct_group_allreduce_sum(ct_group group, const ct_tensor *tensors, int n);
/// Copies root's tensors into every rank's, in place, and waits.
int ct_group_broadcast(ct_group group, const ct_tensor *tensors, int n, int root);
int ct_group_barrier(ct_group group);
/// The sum of t over the group as a new tensor that autograd differentiates: in backward, each
/// rank's gradient is the sum of all ranks' output gradients.
int ct_group_allreduce_sum_differentiable(ct_tensor *out, ct_group group, ct_tensor t);

/// DistributedDataParallel's gradient reducer over `params` (every one must receive a gradient at
/// every step): gradients are averaged over the group in buckets of about bucket_bytes, each bucket's
/// all-reduce starting while backward still runs. After backward returns, every rank's .grad holds
/// the average.
int ct_reducer_create(ct_reducer *out, ct_group group, const ct_tensor *params, int n, int64_t bucket_bytes);
void ct_reducer_free(ct_reducer reducer);
/// Before each forward pass whose backward is to be reduced.
int ct_reducer_prepare_for_forward(ct_reducer reducer);
/// After that forward pass, before backward.
int ct_reducer_prepare_for_backward(ct_reducer reducer);

#ifdef __cplusplus
}
#endif

#endif
