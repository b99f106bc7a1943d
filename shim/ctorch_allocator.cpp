// A caching allocator for libtorch's CPU tensors (ctorch.h: ct_cpu_memory_cache_*).
//
// Why: libtorch's default CPU allocator hands every tensor to glibc, which serves blocks over 32 MiB
// (and, until its threshold adapts, over 128 KiB) with a fresh mmap and unmaps them on free. A
// ResNet-18 training step at batch 32 and 224 px frees and allocates activations of 25-100 MB dozens
// of times, so every step faults in, and the kernel zeroes, the same gigabytes again: 16% of the
// step's samples were in the kernel's page-fault path (perf, bf16, 2 cores). CUDA's caching allocator
// solves the same problem on the GPU; this is its CPU counterpart, deliberately simple: a freed block
// of 256 KiB or more is kept in a list for its size class and handed out again for a request of that
// class. Smaller blocks go straight back to glibc, which keeps them in its heap anyway.
//
// Bounded: blocks are kept only while the cache holds less than its limit (set by
// ct_cpu_memory_cache_enable), and ct_cpu_memory_cache_release gives everything back. Disabled (the
// default), it behaves like libtorch's own allocator: 64-byte-aligned blocks, freed at once.
#include "ctorch.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace {

// Every block starts with a header holding its size class, so that the deleter, which receives only
// the data pointer, knows which list the block belongs to. 64 bytes keeps the data as aligned as
// libtorch's own allocator does (gAlignment), which vectorised kernels rely on.
constexpr size_t header_size = 64;
constexpr size_t smallest_cached = 256 * 1024;

// Rounds a large request up to one of 16 size classes per power of two (at most 6.25% more), so that
// tensors of nearly the same size (batches of 31 and 32, say) share blocks. Small requests keep their
// size: they are never cached.
size_t size_class(size_t bytes) {
  if (bytes < smallest_cached) return bytes;
  const int top = 63 - __builtin_clzll(bytes);
  const size_t step = size_t(1) << (top - 4);
  return (bytes + step - 1) & ~(step - 1);
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    void *data = take(bytes);
    return {data, data, &release_block, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release_block; }

  void copy_data(void *destination, const void *source, size_t count) const override {
    default_copy_data(destination, source, count);
  }

  void enable(size_t limit) {
    update([&] {
      enabled_ = true;
      limit_ = limit;
      return cached_bytes_ > limit_ ? drain() : std::vector<void *>();
    });
  }

  void disable() {
    update([&] {
      enabled_ = false;
      return drain();
    });
  }

  void release_cached() {
    update([&] { return drain(); });
  }

  void statistics(int64_t *cached_bytes, int64_t *reused, int64_t *fresh) {
    std::lock_guard<std::mutex> lock(mutex_);
    *cached_bytes = static_cast<int64_t>(cached_bytes_);
    *reused = static_cast<int64_t>(reused_);
    *fresh = static_cast<int64_t>(fresh_);
  }

  static CachingCPUAllocator &shared() {
    // Never destroyed: tensors freed during the process's exit still call its deleter.
    static auto *allocator = new CachingCPUAllocator();
    return *allocator;
  }

 private:
  void *take(size_t bytes) {
    const size_t rounded = size_class(bytes);
    if (rounded >= smallest_cached) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (enabled_) {
        auto found = free_blocks_.find(rounded);
        if (found != free_blocks_.end() && !found->second.empty()) {
          void *base = found->second.back();
          found->second.pop_back();
          cached_bytes_ -= rounded;
          ++reused_;
          return static_cast<char *>(base) + header_size;
        }
        ++fresh_;
      }
    }
    void *base = nullptr;
    if (posix_memalign(&base, header_size, header_size + rounded) != 0 || base == nullptr) {
      TORCH_CHECK(false, "CPU out of memory: could not allocate ", bytes, " bytes");
    }
    *static_cast<size_t *>(base) = rounded;
    return static_cast<char *>(base) + header_size;
  }

  static void release_block(void *data) {
    if (data == nullptr) return;
    void *base = static_cast<char *>(data) - header_size;
    const size_t rounded = *static_cast<size_t *>(base);
    if (rounded >= smallest_cached && shared().keep(base, rounded)) return;
    std::free(base);
  }

  bool keep(void *base, size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!enabled_ || cached_bytes_ + rounded > limit_) return false;
    free_blocks_[rounded].push_back(base);
    cached_bytes_ += rounded;
    return true;
  }

  // Runs `change` under the lock and frees the blocks it drained after unlocking.
  template <typename Change>
  void update(Change change) {
    std::vector<void *> released;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released = change();
    }
    for (void *base : released) std::free(base);
  }

  // Empties the lists (under the lock): the blocks to free.
  std::vector<void *> drain() {
    std::vector<void *> released;
    for (auto &[size, blocks] : free_blocks_) released.insert(released.end(), blocks.begin(), blocks.end());
    free_blocks_.clear();
    cached_bytes_ = 0;
    return released;
  }

  std::mutex mutex_;
  bool enabled_ = false;
  size_t limit_ = 0;
  size_t cached_bytes_ = 0;
  uint64_t reused_ = 0;
  uint64_t fresh_ = 0;
  std::unordered_map<size_t, std::vector<void *>> free_blocks_;
};

// Installed once, the first time the cache is enabled; from then on every new CPU tensor comes from
// it (tensors made before keep libtorch's deleter, which still frees them correctly).
void install() {
  static std::once_flag installed;
  std::call_once(installed, [] { c10::SetCPUAllocator(&CachingCPUAllocator::shared(), /*priority=*/100); });
}

}  // namespace

extern "C" {

void ct_cpu_memory_cache_enable(int64_t limit_bytes) {
  install();
  CachingCPUAllocator::shared().enable(static_cast<size_t>(limit_bytes < 0 ? 0 : limit_bytes));
}

void ct_cpu_memory_cache_disable(void) { CachingCPUAllocator::shared().disable(); }

void ct_cpu_memory_cache_release(void) { CachingCPUAllocator::shared().release_cached(); }

void ct_cpu_memory_cache_statistics(int64_t *cached_bytes, int64_t *reused, int64_t *fresh) {
  CachingCPUAllocator::shared().statistics(cached_bytes, reused, fresh);
}

}  // extern "C"
