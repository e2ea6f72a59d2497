// Sobol pick-freeze design on CUDA: one CUDA block computes the raw partial
// (shift and shifted co-moment sums of w per output, valid and invalid counts)
// of one block of kBlockDraws base draws. The host computes the center before
// and folds the partials in block order after (src/sobol.cpp), as for the CPU.
// Design and determinism: docs/cuda.md, "Sensitivity (Sobol)".
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>

#include "spillmc/errors.hpp"
#include "spillmc/sobol_design.hpp"
#include "spillmc/tally.hpp"

#include "cuda_util.cuh"

namespace spillmc {
namespace {

constexpr int kThreads = kSobolThreads;
constexpr int kWarps = kSobolWarps;
constexpr unsigned kFullMask = 0xffffffffu;
// Row stride of a warp's tile, in doubles: lane l reading column j of row p
// walks across banks instead of hitting one.
constexpr int kTileStride = kSobolWarpSize + 1;
// Caps registers at 65536 / (2 * 256) = 128 per thread, as the tally kernel's
// 4 x 128 does (docs/cuda.md has the ptxas numbers).
constexpr int kMinBlocksPerSm = 2;

static_assert(kSobolWarpSize == 32, "ballots and lane masks are 32 bits");
static_assert(kBlockDraws % kThreads == 0, "a block must split evenly over the threads");
static_assert(std::is_trivially_copyable<SobolDesign>::value, "the design is a kernel argument");

// Block b of the grid computes design block first_block + b into counts[2 b ..]
// and sums[b m stride ..] (sobol_design.hpp's layout).
//
// Thread t evaluates base draws first + it * kThreads + t into its own f (local
// memory). Per output, each valid draw's w goes into its warp's tile (w_p of
// lane j at tile[p][j]); lane l then adds the warp's valid draws, in draw
// order, to the entries it owns (l, l + 32, ...), with the shared
// sobol_entry_add. Every sum is shifted by the block's first valid w, which
// is the CPU's shift: the lowest valid thread of the first iteration that has
// a valid draw writes it to shared memory before anything is added. At the
// end the warps' sums are added in warp order. The summation order is thus
// fixed by the launch shape alone; no floating-point atomics.
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    sobol_kernel(const __grid_constant__ SobolDesign d, std::uint64_t first_block,
                 std::uint64_t* counts, double* sums) {
  __shared__ double s_tile[kWarps][kSobolMaxDim][kTileStride];
  __shared__ double s_shift[kSobolMaxOutputs][kSobolMaxDim];
  __shared__ double s_part[kWarps][kSobolMaxEntries];
  __shared__ std::uint32_t s_valid[kWarps];
  __shared__ std::uint32_t s_n[kWarps], s_bad[kWarps];

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kSobolWarpSize;
  const int warp = tid / kSobolWarpSize;
  const std::uint64_t blk = first_block + blockIdx.x;
  const std::uint64_t first = blk * kBlockDraws;
  const std::uint32_t len = static_cast<std::uint32_t>(block_length(d.base_draws, blk));
  const int k = d.k, m = d.m;
  const int dim = sobol_dim(k), ne = sobol_entries(dim);

  // The entries this lane owns, as (p, q); p < 0 past the last entry.
  int ep[kSobolLaneEntries], eq[kSobolLaneEntries];
#pragma unroll
  for (int r = 0; r < kSobolLaneEntries; ++r) {
    ep[r] = eq[r] = -1;
    const int e = lane + kSobolWarpSize * r;
    if (e < ne) sobol_detail::sobol_entry_pair(dim, e, ep[r], eq[r]);
  }
  double acc[kSobolMaxOutputs][kSobolLaneEntries];
  for (int o = 0; o < m; ++o)
#pragma unroll
    for (int r = 0; r < kSobolLaneEntries; ++r) acc[o][r] = 0.0;
  double xa[kSobolMaxInputs], xb[kSobolMaxInputs], x[kSobolMaxInputs];
  double f[(kSobolMaxInputs + 2) * kSobolMaxOutputs];
  std::uint32_t n_warp = 0, bad_warp = 0;
  bool have_shift = false;  // uniform over the block

  // The rows of run_sensitivity's host path: the same shared functions.
  const auto sample = [&](std::uint64_t j, int mtx, double* out) {
    sobol_sample(mtx == 0 ? d.spec_a : d.spec_b, d.k, d.slot, j, out);
  };
  const auto model = [&](const double* in, double* out) {
    return sobol_model(d.spec_a, d.k, d.slot, d.m, d.what, in, out);
  };

  // The trip count is uniform over the block, so every thread reaches the
  // block- and warp-synchronous steps, also past the end of a short block.
  for (std::uint32_t base = 0; base < len; base += kThreads) {
    const std::uint32_t i = base + static_cast<std::uint32_t>(tid);
    const bool in = i < len;
    const bool valid =
        in && sobol_detail::evaluate_base(k, m, first + i, sample, model, xa, xb, x, f);
    const std::uint32_t in_mask = __ballot_sync(kFullMask, in);
    const std::uint32_t valid_mask = __ballot_sync(kFullMask, valid);
    n_warp += static_cast<std::uint32_t>(__popc(valid_mask));
    bad_warp += static_cast<std::uint32_t>(__popc(in_mask & ~valid_mask));
    if (!have_shift) {
      if (lane == 0) s_valid[warp] = valid_mask;
      __syncthreads();
      int lowest = -1;
      for (int w = 0; w < kWarps && lowest < 0; ++w)
        if (s_valid[w] != 0) lowest = w * kSobolWarpSize + sobol_detail::lowest_bit(s_valid[w]);
      if (lowest >= 0) {
        if (tid == lowest)
          for (int o = 0; o < m; ++o) sobol_detail::sobol_w(k, m, o, f, d.center[o], s_shift[o], 1);
        have_shift = true;
      }
      __syncthreads();  // the shift is visible; s_valid is read before it is rewritten
    }
    if (valid_mask == 0) continue;  // uniform over the warp
    double* tile = &s_tile[warp][0][0];
    for (int o = 0; o < m; ++o) {
      if (valid) sobol_detail::sobol_w(k, m, o, f, d.center[o], tile + lane, kTileStride);
      __syncwarp();  // the tile writes are visible to the whole warp
#pragma unroll
      for (int r = 0; r < kSobolLaneEntries; ++r)
        if (ep[r] >= 0)
          acc[o][r] = sobol_detail::sobol_entry_add(acc[o][r], ep[r], eq[r], valid_mask, tile,
                                                    kTileStride, s_shift[o]);
      __syncwarp();  // the tile is read before the next output overwrites it
    }
  }

  if (lane == 0) {
    s_n[warp] = n_warp;
    s_bad[warp] = bad_warp;
  }
  const int stride = sobol_raw_stride(dim);
  double* out = sums + static_cast<std::uint64_t>(blockIdx.x) * static_cast<std::uint64_t>(m) *
                           static_cast<std::uint64_t>(stride);
  for (int o = 0; o < m; ++o) {
    __syncthreads();  // s_part is free again
#pragma unroll
    for (int r = 0; r < kSobolLaneEntries; ++r) {
      const int e = lane + kSobolWarpSize * r;
      if (e < ne) s_part[warp][e] = acc[o][r];
    }
    __syncthreads();
    double* dst = out + o * stride;
    for (int t = tid; t < ne; t += kThreads)
      dst[dim + t] = sobol_detail::sobol_warp_total(&s_part[0][t], kWarps, kSobolMaxEntries);
    if (tid < dim) dst[tid] = have_shift ? s_shift[o][tid] : 0.0;
  }
  __syncthreads();  // s_n and s_bad are in
  if (tid == 0) {   // integer counts: exact in any order
    std::uint64_t n = 0, bad = 0;
    for (int w = 0; w < kWarps; ++w) {
      n += s_n[w];
      bad += s_bad[w];
    }
    counts[2 * static_cast<std::uint64_t>(blockIdx.x)] = n;
    counts[2 * static_cast<std::uint64_t>(blockIdx.x) + 1] = bad;
  }
}

// A device allocation; cudaErrorMemoryAllocation is returned (and cleared) so
// that the caller can retry with less, any other error throws.
constexpr std::size_t kMaxLaunchBytes = std::size_t{64} << 20;

}  // namespace

void sobol_cuda_blocks(int device, const SobolDesign& d, std::uint64_t first_block,
                       std::uint64_t nblocks, std::uint64_t* counts, double* sums) {
  if (d.k < 1 || d.k > kSobolMaxInputs || d.m < 1 || d.m > kSobolMaxOutputs) {
    std::ostringstream msg;
    msg << "sensitivity on CUDA: " << d.k << " inputs and " << d.m
        << " outputs; the kernel takes 1.." << kSobolMaxInputs << " and 1.." << kSobolMaxOutputs;
    throw InputError(msg.str());
  }
  if (nblocks == 0) return;
  use_device(device);
  require_kernel_image(reinterpret_cast<const void*>(sobol_kernel), device);
  const std::size_t per_block =
      static_cast<std::size_t>(d.m) * static_cast<std::size_t>(sobol_raw_stride(sobol_dim(d.k)));
  std::uint64_t launch = std::min<std::uint64_t>(
      nblocks, std::max<std::size_t>(1, kMaxLaunchBytes / (per_block * sizeof(double) + 16)));
  // Out of device memory (another process holds the GPU): halve, down to one
  // block. A block's values never depend on the launch size.
  DeviceBuffer<std::uint64_t> dev_counts;
  DeviceBuffer<double> dev_sums;
  for (;;) {
    if (dev_counts.try_reserve(2 * launch) == cudaSuccess &&
        dev_sums.try_reserve(launch * per_block) == cudaSuccess)
      break;
    if (launch == 1) SPILLMC_CUDA_CHECK(cudaErrorMemoryAllocation);
    launch = (launch + 1) / 2;
  }
  const Stream stream;
  for (std::uint64_t done = 0; done < nblocks; done += launch) {
    const std::uint64_t n = std::min(launch, nblocks - done);
    sobol_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream.get()>>>(
        d, first_block + done, dev_counts.get(), dev_sums.get());
    SPILLMC_CUDA_CHECK(cudaGetLastError());
    SPILLMC_CUDA_CHECK(cudaMemcpyAsync(counts + 2 * done, dev_counts.get(),
                                       2 * n * sizeof(std::uint64_t), cudaMemcpyDeviceToHost,
                                       stream.get()));
    SPILLMC_CUDA_CHECK(cudaMemcpyAsync(sums + done * per_block, dev_sums.get(),
                                       n * per_block * sizeof(double), cudaMemcpyDeviceToHost,
                                       stream.get()));
    SPILLMC_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  }
}

}  // namespace spillmc
