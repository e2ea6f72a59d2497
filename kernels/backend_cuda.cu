// CUDA backend: one CUDA block computes the partial Tally of one block of
// kBlockDraws draws, generating, evaluating and reducing in one pass. Design,
// determinism and error handling are described in docs/cuda.md.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#include "spillmc/backend.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/model.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {
namespace {

// ---------------------------------------------------------------------------
// Error handling
// ---------------------------------------------------------------------------

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// Errors that leave the context unusable (a device fault): the run must end.
bool is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  // Clear the thread's last-error slot (a no-op for sticky errors) so that a
  // later cudaGetLastError() is not blamed on this call.
  (void)cudaGetLastError();
  std::ostringstream msg;
  msg << "CUDA error at " << base_name(file) << ":" << line << ": " << call << ": "
      << cudaGetErrorString(err) << " (" << cudaGetErrorName(err) << ")";
  if (is_sticky(err)) msg << "; a device fault: the GPU context is unusable and the run ends";
  throw CudaError(msg.str());
}

inline void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}

#define SPILLMC_CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)

// ---------------------------------------------------------------------------
// Kernel
// ---------------------------------------------------------------------------

// Fixed launch shape: the reduction order, hence every bit of a block's
// partial, depends on it. 128 threads keep the per-warp tiles in static shared
// memory (< 48 KiB) and give finer occupancy steps than 256 at ~128 registers.
constexpr int kThreads = 128;
constexpr int kWarpSize = 32;
constexpr int kWarps = kThreads / kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;
// Caps registers at 65536 / (4 * 128) = 128 per thread; sm_90 needs 112 with
// no spills (docs/cuda.md has the numbers for other settings).
constexpr int kMinBlocksPerSm = 4;
// Row stride of a warp's tile, in doubles. 33 rather than 32 so that lane f
// reading row f walks across banks instead of hitting one bank 25 times.
constexpr int kTileStride = kWarpSize + 1;

static_assert(kBlockDraws % kThreads == 0, "a block must split evenly over the threads");
static_assert(kNumFields <= kWarpSize, "one lane per field");

// Per-thread counters, packed five to a 64-bit word with 12 bits each: a
// thread sees at most kBlockDraws / kThreads = 512 draws of a block, and 20
// separate 32-bit counters would cost 12 more registers across evaluate_draw.
constexpr int kCountBits = 12;
constexpr int kPerWord = 5;
static_assert(kBlockDraws / kThreads < (1u << kCountBits), "packed counters would overflow");
static_assert(kPerWord * kCountBits <= 64, "packed counters do not fit a word");

// Slots of the "status" word.
enum StatusSlot : int {
  S_valid = 0,
  S_invalid0 = 1,
  S_a2crit_undefined = S_invalid0 + kNumInvalid
};
static_assert(S_a2crit_undefined < kPerWord, "status counters do not fit a word");
static_assert(kNumEvents <= kPerWord && kNumRegimes <= kPerWord, "counters do not fit a word");

__device__ __forceinline__ void bump(std::uint64_t& word, int slot) {
  word += std::uint64_t{1} << (kCountBits * slot);
}

__device__ __forceinline__ std::uint32_t unpack(std::uint64_t word, int slot) {
  return static_cast<std::uint32_t>(word >> (kCountBits * slot)) & ((1u << kCountBits) - 1u);
}

// The counts of a block, unpacked for the block-wide reduction.
enum CountWord : int { W_status, W_events, W_regime2, W_regime_up, kNumCountWords };
struct Counts {
  std::uint32_t c[kNumCountWords][kPerWord];
};

struct CountsSum {
  __device__ __forceinline__ Counts operator()(const Counts& a, const Counts& b) const {
    Counts r;
#pragma unroll
    for (int w = 0; w < kNumCountWords; ++w)
#pragma unroll
      for (int s = 0; s < kPerWord; ++s) r.c[w][s] = a.c[w][s] + b.c[w][s];
    return r;
  }
};

// One warp's shifted sums of one field; the shift is the block's.
struct WarpFieldSums {
  double s1, s2, min, max;
  std::uint32_t n;
};

// A warp's transpose tile while draws are evaluated; the warps' field sums
// afterwards (the tile is dead by then).
union TileStorage {
  double tile[kWarps][kNumFields][kTileStride];
  WarpFieldSums sums[kWarps][kNumFields];
};

// Block b of the grid computes the partial of block first_block + b into out[b].
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    tally_blocks_kernel(const DrawSpec spec, const std::uint64_t total_draws,
                        const std::uint64_t first_block, Tally* __restrict__ out) {
  using CountReduce = cub::BlockReduce<Counts, kThreads, cub::BLOCK_REDUCE_WARP_REDUCTIONS>;
  __shared__ double s_shift[kNumFields];
  __shared__ TileStorage s_tile;
  __shared__ typename CountReduce::TempStorage s_reduce;

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kWarpSize;
  const int warp = tid / kWarpSize;
  const std::uint64_t k = first_block + blockIdx.x;
  const std::uint64_t first = k * kBlockDraws;
  const std::uint32_t len = static_cast<std::uint32_t>(block_length(total_draws, k));

  // The shared function, so that the shifts are those of the CPU reference.
  // Usually it stops at the first draw; at worst it scans kShiftScan draws.
  // Writing straight to shared memory matters: a register copy of the 25
  // shifts next to a live Outcome set the kernel's peak (161 vs 112 registers).
  if (tid == 0) block_shift(spec, first, len, s_shift);
  __syncthreads();

  // Lane f < kNumFields owns field f of its warp's draws.
  const bool owner = lane < kNumFields;
  ShiftedSums acc;
  acc.shift = owner ? s_shift[lane] : 0.0;
  std::uint64_t status = 0, events = 0, regime2 = 0, regime_up = 0;

  // Draw first + base + tid; the trip count is uniform over the block, so
  // every lane reaches the warp-synchronous steps below.
  for (std::uint32_t base = 0; base < len; base += kThreads) {
    const std::uint32_t i = base + static_cast<std::uint32_t>(tid);
    bool valid = false, crit = false;
    if (i < len) {
      Outcome o;
      const int reason = evaluate_draw(spec, first + i, o);
      if (reason >= 0) {
        bump(status, S_invalid0 + reason);
      } else {
        valid = true;
        crit = o.a2crit_defined;
        bump(status, S_valid);
        if (!crit) bump(status, S_a2crit_undefined);
#pragma unroll
        for (int e = 0; e < kNumEvents; ++e)
          events += static_cast<std::uint64_t>(o.event[e] ? 1 : 0) << (kCountBits * e);
        bump(regime2, o.regime2);
        bump(regime_up, o.regime_up);
        double* column = &s_tile.tile[warp][0][lane];
#pragma unroll
        for (int f = 0; f < kNumFields; ++f) column[f * kTileStride] = o.v[f];
      }
    }
    const unsigned valid_mask = __ballot_sync(kFullMask, valid);
    const unsigned crit_mask = __ballot_sync(kFullMask, crit);
    __syncwarp();  // the tile writes are visible to the whole warp
    if (owner) {
      // The warp's draws in index order, as tally_draw would add them.
      unsigned m = lane == F_A2_crit ? crit_mask : valid_mask;
      const double* row = s_tile.tile[warp][lane];
      while (m != 0) {
        const int j = __ffs(static_cast<int>(m)) - 1;
        m &= m - 1;
        acc.add(row[j]);
      }
    }
    __syncwarp();  // the tile is read before the next draws overwrite it
  }

  // Warp sums, then their total in warp order: all warps share the block's
  // shift, so summing s1, s2 and n is exact algebra with a fixed rounding order.
  __syncthreads();  // every warp is done with its tile
  if (owner)
    s_tile.sums[warp][lane] = {acc.s1, acc.s2, acc.min, acc.max, static_cast<std::uint32_t>(acc.n)};
  __syncthreads();
  Tally& t = out[blockIdx.x];
  if (tid < kNumFields) {
    ShiftedSums sum;
    sum.shift = s_shift[tid];
    for (int w = 0; w < kWarps; ++w) {
      const WarpFieldSums& p = s_tile.sums[w][tid];
      sum.n += p.n;
      sum.s1 += p.s1;
      sum.s2 += p.s2;
      sum.min = p.min < sum.min ? p.min : sum.min;
      sum.max = p.max > sum.max ? p.max : sum.max;
    }
    t.field[tid] = sum.moments();
  }

  Counts mine;
#pragma unroll
  for (int s = 0; s < kPerWord; ++s) {
    mine.c[W_status][s] = unpack(status, s);
    mine.c[W_events][s] = unpack(events, s);
    mine.c[W_regime2][s] = unpack(regime2, s);
    mine.c[W_regime_up][s] = unpack(regime_up, s);
  }
  // Integer sums: exact in any order; WARP_REDUCTIONS (not the _NONDETERMINISTIC variant).
  const Counts c = CountReduce(s_reduce).Reduce(mine, CountsSum{});
  if (tid == 0) {  // the reduction's result is defined in thread 0 only
    t.draws = len;
    t.valid = c.c[W_status][S_valid];
    for (int r = 0; r < kNumInvalid; ++r) t.invalid[r] = c.c[W_status][S_invalid0 + r];
    t.a2crit_undefined = c.c[W_status][S_a2crit_undefined];
    for (int e = 0; e < kNumEvents; ++e) t.events[e] = c.c[W_events][e];
    for (int r = 0; r < kNumRegimes; ++r) {
      t.regime2[r] = c.c[W_regime2][r];
      t.regime_up[r] = c.c[W_regime_up][r];
    }
  }
}

// ---------------------------------------------------------------------------
// RAII owners
// ---------------------------------------------------------------------------

// Device array that only grows; contents are not preserved across growth.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { release(); }

  // cudaErrorMemoryAllocation is returned (and cleared), not thrown: the
  // caller retries with less; any other error throws.
  cudaError_t try_reserve(std::size_t count) {
    if (count <= capacity_) return cudaSuccess;
    release();  // before allocating: lower peak memory
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, count * sizeof(T));
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return err;
    }
    SPILLMC_CUDA_CHECK(err);
    data_ = static_cast<T*>(p);
    capacity_ = count;
    return cudaSuccess;
  }
  T* get() const { return data_; }

 private:
  void release() noexcept {
    if (data_ != nullptr) (void)cudaFree(data_);  // errors here are sticky ones reported earlier
    data_ = nullptr;
    capacity_ = 0;
  }
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

class Stream {
 public:
  Stream() { SPILLMC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// ---------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------

// Partial buffers stay below this size; a chunk is a whole number of waves.
constexpr std::size_t kMaxChunkBytes = std::size_t{8} << 20;
constexpr std::uint64_t kMaxWaves = 16;

static_assert(std::is_trivially_copyable<Tally>::value, "partials are copied as bytes");
static_assert(std::is_trivially_copyable<DrawSpec>::value, "the spec is a kernel argument");

int select_device(int device) {
  SPILLMC_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(select_device(device)) {
    cudaDeviceProp prop{};
    SPILLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    int sms = 0;
    SPILLMC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_));

    // Fails here, not at the first launch, when the build has no kernel image
    // for this GPU (CMAKE_CUDA_ARCHITECTURES).
    cudaFuncAttributes attr{};
    const cudaError_t err = cudaFuncGetAttributes(&attr, tally_blocks_kernel);
    if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
      (void)cudaGetLastError();
      std::ostringstream msg;
      msg << "this build has no CUDA kernel for " << prop.name << " (sm_" << prop.major
          << prop.minor << "): " << cudaGetErrorString(err)
          << "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" << prop.major << prop.minor
          << " (or native)";
      throw CudaError(msg.str());
    }
    SPILLMC_CUDA_CHECK(err);

    int per_sm = 0;
    SPILLMC_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, tally_blocks_kernel, kThreads, 0));
    if (per_sm < 1) throw CudaError("the SpillMC kernel cannot run on " + std::string(prop.name));

    const std::uint64_t wave = static_cast<std::uint64_t>(sms) * per_sm;
    const std::uint64_t fit = kMaxChunkBytes / (wave * sizeof(Tally));
    chunk_ = wave * std::max<std::uint64_t>(1, std::min(kMaxWaves, fit));

    std::ostringstream d;
    d << prop.name << " (sm_" << prop.major << prop.minor << ", " << sms << " SMs)";
    description_ = d.str();
    stream_ = std::make_unique<Stream>();  // on device_, current since select_device
    // Test hook: chunks above this many blocks fail as if out of device memory.
    if (const char* v = std::getenv("SPILLMC_TEST_CUDA_OOM_BLOCKS"))
      oom_test_limit_ = std::max<std::uint64_t>(1, std::strtoull(v, nullptr, 10));
  }

  ~CudaBackend() override {
    // Free on this backend's device even if the destroying thread uses another.
    (void)cudaSetDevice(device_);
  }

  std::string name() const override { return "cuda"; }
  std::string device() const override { return description_; }
  std::uint64_t preferred_chunk_blocks() const override { return chunk_; }

  void compute_blocks(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t first_block,
                      std::uint64_t nblocks, Tally* partials) override {
    if (nblocks == 0) return;
    // The current device is per host thread; the caller's may differ.
    SPILLMC_CUDA_CHECK(cudaSetDevice(device_));
    const cudaStream_t stream = stream_->get();
    for (std::uint64_t done = 0; done < nblocks;) {
      const std::uint64_t n = std::min(nblocks - done, chunk_);
      // Out of device memory (the partials buffer, or the launch): halve the
      // chunk, down to one block, and keep the smaller size. A block's partial
      // does not depend on the chunk, so the numbers stay the same.
      cudaError_t err = n > oom_test_limit_ ? cudaErrorMemoryAllocation : buffer_.try_reserve(n);
      if (err == cudaSuccess) {
        tally_blocks_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
            spec, total_draws, first_block + done, buffer_.get());
        err = cudaGetLastError();
      }
      if (err == cudaErrorMemoryAllocation && n > 1) {
        chunk_ = n / 2;
        continue;
      }
      if (err != cudaSuccess)
        throw_cuda_error(err, "allocating or launching a chunk", __FILE__, __LINE__);
      SPILLMC_CUDA_CHECK(cudaMemcpyAsync(partials + done, buffer_.get(), n * sizeof(Tally),
                                         cudaMemcpyDeviceToHost, stream));
      // Kernel faults surface here.
      SPILLMC_CUDA_CHECK(cudaStreamSynchronize(stream));
      done += n;
    }
  }

 private:
  int device_;
  std::string description_;
  std::uint64_t chunk_ = 1;
  std::uint64_t oom_test_limit_ = UINT64_MAX;
  // Declared after device_: destroyed first, while device_ is current.
  std::unique_ptr<Stream> stream_;
  DeviceBuffer<Tally> buffer_;
};

}  // namespace

bool cuda_compiled() {
  return true;
}

int cuda_device_count() {
  int count = 0;
  // Without a driver this returns an error (e.g. cudaErrorInsufficientDriver
  // or cudaErrorNoDevice); it does not crash.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(int device_index) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw CudaError(std::string("no usable CUDA device: cudaGetDeviceCount: ") +
                    cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")");
  }
  if (count == 0) throw CudaError("no CUDA device found");
  if (device_index < 0 || device_index >= count) {
    std::ostringstream msg;
    msg << "CUDA device " << device_index << " does not exist; this machine has " << count
        << " device" << (count == 1 ? "" : "s") << " (0.." << count - 1 << ")";
    throw CudaError(msg.str());
  }
  return std::make_unique<CudaBackend>(device_index);
}

}  // namespace spillmc
