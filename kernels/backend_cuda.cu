// CUDA backend: one CUDA block computes the partial Tally of one block of
// kBlockDraws draws, generating, evaluating and reducing in one pass. Design,
// determinism and error handling are described in docs/cuda.md.
#include <cooperative_groups.h>
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/fields.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/model.hpp"
#include "spillmc/paths.hpp"
#include "spillmc/tally.hpp"

#include "cuda_util.cuh"

namespace spillmc {
namespace {

namespace cg = cooperative_groups;

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
// Caps registers at 65536 / (4 * 128) = 128 per thread; the plain kernel takes
// 127 on sm_90 with no spills. On an H100, more blocks per SM (a lower cap) did
// not run faster (docs/cuda.md). The CMake cache variable SPILLMC_CUDA_MIN_BLOCKS
// overrides it for such experiments.
#ifndef SPILLMC_CUDA_MIN_BLOCKS
#define SPILLMC_CUDA_MIN_BLOCKS 4
#endif
constexpr int kMinBlocksPerSm = SPILLMC_CUDA_MIN_BLOCKS;
// Warp-aggregated histogram atomics: an experiment (CMake SPILLMC_CUDA_HIST_AGGREGATE).
#ifndef SPILLMC_CUDA_HIST_AGGREGATE
#define SPILLMC_CUDA_HIST_AGGREGATE 0
#endif
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

// Field f's moments from the warps' sums in s_tile.sums, added in warp order:
// all warps share the block's shift, so summing s1, s2 and n is exact algebra
// with a fixed rounding order.
__device__ __forceinline__ Moments warp_total(const TileStorage& s_tile, const double* s_shift,
                                              int f) {
  ShiftedSums sum;
  sum.shift = s_shift[f];
  for (int w = 0; w < kWarps; ++w) {
    const WarpFieldSums& p = s_tile.sums[w][f];
    sum.n += p.n;
    sum.s1 += p.s1;
    sum.s2 += p.s2;
    sum.min = p.min < sum.min ? p.min : sum.min;
    sum.max = p.max > sum.max ? p.max : sum.max;
  }
  return sum.moments();
}

// block_shift's scan, done by the whole block inside the draw loop: in each
// warp iteration until both are found, the warps publish their valid and
// A2_crit-defined ballots, and the lowest such draw of the iteration (lowest
// warp, then lowest lane: the lowest index) gives the shifts from its tile
// column. A block whose first draws are invalid thus costs no serial scan.
// Every thread keeps the same state, so pending() is block-uniform.
class ShiftSearch {
 public:
  struct Shared {
    unsigned valid[kWarps], crit[kWarps];
  };

  __device__ __forceinline__ bool pending() const { return need_ != 0; }

  // After the iteration's tile writes and ballots. Leaves s_shift final for
  // every field found so far, visible to the whole block.
  __device__ __forceinline__ void step(Shared& sh, const TileStorage& s_tile, double* s_shift,
                                       unsigned valid_mask, unsigned crit_mask) {
    const int tid = static_cast<int>(threadIdx.x);
    if (tid % kWarpSize == 0) {
      sh.valid[tid / kWarpSize] = valid_mask;
      sh.crit[tid / kWarpSize] = crit_mask;
    }
    __syncthreads();  // the ballots and every warp's tile are visible
    int main_warp = -1, crit_warp = -1;
    unsigned main_lanes = 0, crit_lanes = 0;
    for (int w = kWarps - 1; w >= 0; --w) {
      if (sh.valid[w] != 0) main_warp = w, main_lanes = sh.valid[w];
      if (sh.crit[w] != 0) crit_warp = w, crit_lanes = sh.crit[w];
    }
    const unsigned found = (main_warp >= 0 ? kMain : 0u) | (crit_warp >= 0 ? kCrit : 0u);
    if (tid < kNumFields) {
      if (tid != F_A2_crit && (need_ & found & kMain) != 0)
        s_shift[tid] = s_tile.tile[main_warp][tid][__ffs(static_cast<int>(main_lanes)) - 1];
      if (tid == F_A2_crit && (need_ & found & kCrit) != 0)
        s_shift[tid] = s_tile.tile[crit_warp][tid][__ffs(static_cast<int>(crit_lanes)) - 1];
    }
    need_ &= ~found;
    __syncthreads();  // the shifts are visible; sh is free for the next iteration
  }

 private:
  static constexpr unsigned kMain = 1, kCrit = 2;  // the shifts still to find
  unsigned need_ = kMain | kCrit;
};

// ---------------------------------------------------------------------------
// Plans: sweep cells and analyses (analysis.hpp)
// ---------------------------------------------------------------------------

// Each event and its negation, at most once each (config.cpp refuses repeats).
constexpr int kMaxConditions = 2 * kNumEvents;

// Counters of one condition's Tally, in shared memory.
enum CondCounter : int {
  CC_valid,
  CC_a2crit_undefined,
  CC_event0,
  CC_regime2_0 = CC_event0 + kNumEvents,
  CC_regime_up0 = CC_regime2_0 + kNumRegimes,
  kNumCondCounters = CC_regime_up0 + kNumRegimes
};

// Where a launch's blocks lie in the plan: global block g = first_block + b
// is block g % bpc of cell g / bpc, in segment g / bpc * spc + g % bpc / sb.
struct KernelPlan {
  const DrawSpec* cells;  // device table, one spec per cell
  std::uint64_t draws;    // per cell
  std::uint64_t bpc, spc, sb;
  std::uint64_t first_block;
  Tally* out;  // [block of the launch]
  // Test hook (SPILLMC_TEST_CUDA_FAULT_BLOCK): this global block traps, a device fault.
  std::uint64_t fault_block = UINT64_MAX;

  __device__ __forceinline__ std::uint64_t segment_of(std::uint64_t g) const {
    return g / bpc * spc + g % bpc / sb;
  }
};

// The analyses of AnalysisSpec in a form a kernel takes by value, and where a
// launch writes them. Pointers are into one device buffer (LaunchLayout).
struct KernelAnalysis {
  // Histograms: counts of the launch's segments, row = segment - first_segment.
  int nhist;
  int hist_field[kNumFields];
  std::uint32_t hist_offset[kNumFields];
  HistAxis hist_axis[kNumFields];
  std::uint32_t hist_size;  // counters per segment row
  bool hist_shared;         // count in dynamic shared memory, then flush once per block
  std::uint32_t dyn_hist;   // byte offset of those counts in dynamic shared memory
  std::uint64_t first_segment;
  std::uint64_t* hist;
  // Conditions: one Tally per block and condition.
  int ncond;
  Condition cond[kMaxConditions];
  Tally* cond_out;
  // Paths: per block, each path's gain moments and the best-path counts (n + 1).
  PathsSpec paths;
  Moments* path_gain;
  std::uint64_t* path_best;
  // Per-draw output: draw i goes to row selected_below(i) - sel_first of
  // values[q * rows + row] (field q of the list) and the three code arrays.
  DrawSelect select;
  std::uint64_t select_n;
  int nfields;
  int field[kNumFields];
  std::uint64_t sel_first, rows;
  double* values;
  std::int8_t *status, *regime2, *regime_up;
};

// The shifted sums of one warp for one path (plain fields: shared memory).
struct RawSums {
  double shift, s1, s2, min, max;
  std::uint64_t n;
};

// Static shared memory only the analysis kernel has. The path tiles and the
// histogram live in dynamic shared memory (DynShared), sized by the plan, so
// that a run without paths keeps two blocks per SM next to a 76 KB histogram.
template <bool kExtra>
struct ExtraShared {};
template <>
struct ExtraShared<true> {
  unsigned cmask[kWarps][kMaxConditions];  // per warp iteration: draws where condition c holds
  std::uint32_t ccount[kMaxConditions][kNumCondCounters];
  std::uint32_t pbest[kMaxPaths + 1];
};

// Dynamic shared memory of the analysis kernel: path gains transposed like the
// fields ([warp][path][lane], stride kTileStride), the warps' path sums, then
// (an.hist_shared) the histogram counts at byte an.dyn_hist.
struct DynShared {
  double* ptile;
  RawSums* pwarp;
  std::uint32_t* hist;

  __host__ __device__ static std::size_t path_bytes(int np) {
    return static_cast<std::size_t>(kWarps) * np * (kTileStride * sizeof(double) + sizeof(RawSums));
  }
  __device__ DynShared(unsigned char* base, int np, std::uint32_t dyn_hist)
      : ptile(reinterpret_cast<double*>(base)),
        pwarp(reinterpret_cast<RawSums*>(base + static_cast<std::size_t>(kWarps) * np *
                                                    kTileStride * sizeof(double))),
        hist(reinterpret_cast<std::uint32_t*>(base + dyn_hist)) {}
};

template <bool kTable>
__device__ __forceinline__ const DrawSpec& block_spec(const DrawSpec& arg, const void* table_copy) {
  if constexpr (kTable) {
    return *static_cast<const DrawSpec*>(table_copy);
  } else {
    return arg;
  }
}

// The block's analyses after its draws: conditional Tallies (warps summed in
// warp order with the block's shifts, as the main tally), path gain moments
// (warps merged in warp order), best-path counts, and the shared histogram
// flushed into the segment's row. Called by every thread of the block.
__device__ __forceinline__ void finish_analysis(const KernelAnalysis& an, const double* s_shift,
                                                TileStorage& s_tile, ExtraShared<true>& s_x,
                                                const DynShared& dyn, const ShiftedSums* cacc,
                                                const ShiftedSums& pacc, std::uint64_t* hist_row) {
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kWarpSize;
  const int warp = tid / kWarpSize;
  const bool owner = lane < kNumFields;
  for (int c = 0; c < an.ncond; ++c) {
    __syncthreads();  // s_tile.sums is free again; every count is in
    if (owner)
      s_tile.sums[warp][lane] = {cacc[c].s1, cacc[c].s2, cacc[c].min, cacc[c].max,
                                 static_cast<std::uint32_t>(cacc[c].n)};
    __syncthreads();
    Tally& ct = an.cond_out[static_cast<std::uint64_t>(blockIdx.x) * an.ncond + c];
    if (tid < kNumFields) {
      ct.field[tid] = warp_total(s_tile, s_shift, tid);
    }
    if (tid == 0) {
      const std::uint32_t* cc = s_x.ccount[c];
      ct.draws = ct.valid = cc[CC_valid];
      for (int r = 0; r < kNumInvalid; ++r) ct.invalid[r] = 0;
      ct.a2crit_undefined = cc[CC_a2crit_undefined];
      for (int e = 0; e < kNumEvents; ++e) ct.events[e] = cc[CC_event0 + e];
      for (int r = 0; r < kNumRegimes; ++r) {
        ct.regime2[r] = cc[CC_regime2_0 + r];
        ct.regime_up[r] = cc[CC_regime_up0 + r];
      }
    }
  }
  const int np = an.paths.n;
  if (np > 0) {
    __syncthreads();
    if (lane < np)
      dyn.pwarp[warp * np + lane] = {pacc.shift, pacc.s1, pacc.s2, pacc.min, pacc.max, pacc.n};
    __syncthreads();
    const std::uint64_t b = blockIdx.x;
    if (tid < np) {
      Moments total;
      for (int w = 0; w < kWarps; ++w) {
        const RawSums& r = dyn.pwarp[w * np + tid];
        ShiftedSums sw;
        sw.shift = r.shift, sw.s1 = r.s1, sw.s2 = r.s2, sw.min = r.min, sw.max = r.max, sw.n = r.n;
        total.merge(sw.moments());
      }
      an.path_gain[b * np + tid] = total;
    }
    if (tid <= np) an.path_best[b * (np + 1) + tid] = s_x.pbest[tid];
  }
  if (an.hist_shared) {
    __syncthreads();
    for (std::uint32_t j = static_cast<std::uint32_t>(tid); j < an.hist_size; j += kThreads)
      if (dyn.hist[j] != 0)
        atomicAdd(reinterpret_cast<unsigned long long*>(hist_row + j),
                  static_cast<unsigned long long>(dyn.hist[j]));
  }
}

// Block b of the grid computes the partial of global block plan.first_block + b
// into plan.out[b]. kTable: the block's spec comes from the cell table (sweeps);
// else it is `spec_arg` and the plan has one cell. kExtra (implies kTable): the
// analyses of `an` in the same pass.
template <bool kTable, bool kExtra>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    tally_kernel(const __grid_constant__ DrawSpec spec_arg, const __grid_constant__ KernelPlan plan,
                 const __grid_constant__ KernelAnalysis an) {
  static_assert(!kExtra || kTable, "the analysis kernel reads the cell table");
  using CountReduce = cub::BlockReduce<Counts, kThreads, cub::BLOCK_REDUCE_WARP_REDUCTIONS>;
  __shared__ double s_shift[kNumFields];
  __shared__ TileStorage s_tile;
  __shared__ ShiftSearch::Shared s_search;
  __shared__ typename CountReduce::TempStorage s_reduce;
  // Raw storage: DrawSpec has default member initializers, which __shared__ forbids.
  __shared__ alignas(DrawSpec) unsigned char s_spec[kTable ? sizeof(DrawSpec) : 1];
  __shared__ ExtraShared<kExtra> s_x;
  extern __shared__ __align__(16) unsigned char s_dyn[];  // kExtra: DynShared

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kWarpSize;
  const int warp = tid / kWarpSize;
  const std::uint64_t g = plan.first_block + blockIdx.x;
  if (g == plan.fault_block) __trap();
  const std::uint64_t k = kTable ? g % plan.bpc : g;
  const std::uint64_t first = k * kBlockDraws;
  const std::uint32_t len = static_cast<std::uint32_t>(block_length(plan.draws, k));
  const DynShared dyn(s_dyn, kExtra ? an.paths.n : 0, kExtra ? an.dyn_hist : 0);

  if constexpr (kTable) {
    static_assert(sizeof(DrawSpec) % sizeof(std::uint64_t) == 0, "copied as words");
    const auto* src = reinterpret_cast<const std::uint64_t*>(plan.cells + g / plan.bpc);
    auto* dst = reinterpret_cast<std::uint64_t*>(s_spec);
    for (int w = tid; w < static_cast<int>(sizeof(DrawSpec) / sizeof(std::uint64_t)); w += kThreads)
      dst[w] = src[w];
  }
  if constexpr (kExtra) {
    for (int c = tid; c < kMaxConditions * kNumCondCounters; c += kThreads)
      (&s_x.ccount[0][0])[c] = 0;
    if (tid <= kMaxPaths) s_x.pbest[tid] = 0;
    if (an.hist_shared)
      for (std::uint32_t j = static_cast<std::uint32_t>(tid); j < an.hist_size; j += kThreads)
        dyn.hist[j] = 0;
  }
  if (kTable) __syncthreads();  // the spec copy is complete
  const DrawSpec& spec = block_spec<kTable>(spec_arg, s_spec);

  // The shifts are block_shift's (the CPU reference's): the values of the
  // block's first valid draw, A2_crit's from its first draw where it is
  // defined, 0 where there is none. The draw loop finds them (ShiftSearch);
  // until then no lane has a value to add.
  if (tid < kNumFields) s_shift[tid] = 0.0;
  ShiftSearch search;

  // Lane f < kNumFields owns field f of its warp's draws.
  const bool owner = lane < kNumFields;
  ShiftedSums acc;
  std::uint64_t status = 0, events = 0, regime2 = 0, regime_up = 0;
  // kExtra: lane f's sums of field f under each condition (block shift), and
  // lane p's sums of path p's gain (shift: the warp's first gain).
  ShiftedSums cacc[kExtra ? kMaxConditions : 1];
  ShiftedSums pacc;
  std::uint64_t* hist_row = nullptr;
  if constexpr (kExtra) {
    if (an.nhist > 0) hist_row = an.hist + (plan.segment_of(g) - an.first_segment) * an.hist_size;
  }

  // Draw first + base + tid; the trip count is uniform over the block, so
  // every lane reaches the warp-synchronous steps below.
  for (std::uint32_t base = 0; base < len; base += kThreads) {
    const std::uint32_t i = base + static_cast<std::uint32_t>(tid);
    const bool in = i < len;
    bool valid = false, crit = false;
    int reason = 0, ev = 0, r2 = 0, rup = 0;
    double* column = &s_tile.tile[warp][0][lane];
    if (in) {
      Outcome o;
      reason = evaluate_draw(spec, first + i, o);
      if (reason >= 0) {
        bump(status, S_invalid0 + reason);
        if constexpr (kExtra) {  // per-draw output writes the parameters of invalid draws
#pragma unroll
          for (int f = 0; f < kNumParams; ++f) column[f * kTileStride] = o.v[f];
        }
      } else {
        valid = true;
        crit = o.a2crit_defined;
        bump(status, S_valid);
        if (!crit) bump(status, S_a2crit_undefined);
#pragma unroll
        for (int e = 0; e < kNumEvents; ++e) {
          events += static_cast<std::uint64_t>(o.event[e] ? 1 : 0) << (kCountBits * e);
          ev |= (o.event[e] ? 1 : 0) << e;
        }
        bump(regime2, o.regime2);
        bump(regime_up, o.regime_up);
        r2 = o.regime2;
        rup = o.regime_up;
#pragma unroll
        for (int f = 0; f < kNumFields; ++f) column[f * kTileStride] = o.v[f];
        if constexpr (kExtra) {
          if (an.paths.n > 0) {
            const Params p{o.v[F_a], o.v[F_b], o.v[F_c], o.v[F_A1], o.v[F_A2], o.v[F_A2p]};
            double gains[kMaxPaths];
            path_gains(an.paths, spec.seed, spec.stream, first + i, p, spec.mode, gains);
            for (int q = 0; q < an.paths.n; ++q)
              dyn.ptile[(warp * an.paths.n + q) * kTileStride + lane] = gains[q];
            const int best = best_path(gains, an.paths.n);
            atomicAdd(&s_x.pbest[best < 0 ? an.paths.n : best], 1u);
          }
        }
      }
    }
    const unsigned valid_mask = __ballot_sync(kFullMask, valid);
    const unsigned crit_mask = __ballot_sync(kFullMask, crit);
    if (search.pending()) {  // block-uniform, so the barriers inside are reached by all
      search.step(s_search, s_tile, s_shift, valid_mask, crit_mask);
      acc.shift = owner ? s_shift[lane] : 0.0;
      if constexpr (kExtra) {
        for (int c = 0; c < an.ncond; ++c) cacc[c].shift = acc.shift;
      }
    }
    if constexpr (kExtra) {
      for (int c = 0; c < an.ncond; ++c) {
        const Condition cd = an.cond[c];
        const bool holds = valid && (((ev >> cd.event) & 1) != 0) != cd.negated;
        const unsigned m = __ballot_sync(kFullMask, holds);
        if (lane == 0) s_x.cmask[warp][c] = m;
        if (holds) {  // integer counts: exact in any order
          std::uint32_t* cc = s_x.ccount[c];
          atomicAdd(&cc[CC_valid], 1u);
          if (!crit) atomicAdd(&cc[CC_a2crit_undefined], 1u);
          for (int e = 0; e < kNumEvents; ++e)
            if ((ev >> e) & 1) atomicAdd(&cc[CC_event0 + e], 1u);
          atomicAdd(&cc[CC_regime2_0 + r2], 1u);
          atomicAdd(&cc[CC_regime_up0 + rup], 1u);
        }
      }
    }
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
      if constexpr (kExtra) {
        for (int c = 0; c < an.ncond; ++c) {
          unsigned mc = s_x.cmask[warp][c] & (lane == F_A2_crit ? crit_mask : kFullMask);
          while (mc != 0) {
            const int j = __ffs(static_cast<int>(mc)) - 1;
            mc &= mc - 1;
            cacc[c].add(row[j]);
          }
        }
      }
    }
    if constexpr (kExtra) {
      if (lane < an.paths.n) {
        unsigned m = valid_mask;
        const double* row = dyn.ptile + (warp * an.paths.n + lane) * kTileStride;
        while (m != 0) {
          const int j = __ffs(static_cast<int>(m)) - 1;
          m &= m - 1;
          if (pacc.n == 0) pacc.shift = row[j];
          pacc.add(row[j]);
        }
      }
      // A thread's own draw, read back from its tile column (a register
      // Outcome indexed by a runtime field would live in local memory).
      if (valid) {
        for (int h = 0; h < an.nhist; ++h) {
          const int f = an.hist_field[h];
          if (f == F_A2_crit && !crit) continue;
          const std::uint32_t slot =
              an.hist_offset[h] +
              static_cast<std::uint32_t>(hist_slot(an.hist_axis[h], column[f * kTileStride]));
#if SPILLMC_CUDA_HIST_AGGREGATE
          // The lanes here that hit the same bin add their number once (fields
          // such as q22, often 0, send a whole warp to one bin).
          const auto same_bin = cg::labeled_partition(cg::coalesced_threads(), slot);
          if (same_bin.thread_rank() != 0) continue;
          const std::uint32_t add = same_bin.size();
#else
          const std::uint32_t add = 1;
#endif
          if (an.hist_shared) {
            atomicAdd(&dyn.hist[slot], add);
          } else {
            atomicAdd(reinterpret_cast<unsigned long long*>(hist_row + slot),
                      static_cast<unsigned long long>(add));
          }
        }
      }
      if (in && selected_at(an.select, an.select_n, first + i)) {
        const std::uint64_t row = selected_below(an.select, an.select_n, first + i) - an.sel_first;
        an.status[row] = static_cast<std::int8_t>(valid ? -1 : reason);
        an.regime2[row] = static_cast<std::int8_t>(valid ? r2 : -1);
        an.regime_up[row] = static_cast<std::int8_t>(valid ? rup : -1);
        for (int q = 0; q < an.nfields; ++q) {
          const int f = an.field[q];
          const bool defined = f < kNumParams || (valid && (f != F_A2_crit || crit));
          an.values[static_cast<std::uint64_t>(q) * an.rows + row] =
              defined ? column[f * kTileStride] : CUDART_NAN;
        }
      }
    }
    __syncwarp();  // the tiles are read before the next draws overwrite them
  }

  // Warp sums, then their total in warp order: all warps share the block's
  // shift, so summing s1, s2 and n is exact algebra with a fixed rounding order.
  __syncthreads();  // every warp is done with its tile
  if (owner)
    s_tile.sums[warp][lane] = {acc.s1, acc.s2, acc.min, acc.max, static_cast<std::uint32_t>(acc.n)};
  __syncthreads();
  Tally& t = plan.out[blockIdx.x];
  if (tid < kNumFields) {
    t.field[tid] = warp_total(s_tile, s_shift, tid);
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
  if constexpr (kExtra) finish_analysis(an, s_shift, s_tile, s_x, dyn, cacc, pacc, hist_row);
}

// ---------------------------------------------------------------------------
// RAII owners
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------

// Partial buffers stay below this size; a chunk is a whole number of waves.
constexpr std::size_t kMaxChunkBytes = std::size_t{8} << 20;
constexpr std::uint64_t kMaxWaves = 16;
// One plan launch's outputs (partials, analyses, selected draws), on the device
// and again in pinned host memory, twice (double buffering).
constexpr std::size_t kMaxLaunchBytes = std::size_t{128} << 20;

// Byte offsets of a plan launch's outputs in its device buffer (and the pinned
// copy), each 16-byte aligned.
struct LaunchLayout {
  std::uint64_t n = 0;                      // blocks
  std::uint64_t seg_lo = 0, hist_rows = 0;  // segments the launch touches
  std::uint64_t sel_first = 0, rows = 0;    // selected draws
  std::size_t partials = 0, cond = 0, path_gain = 0, path_best = 0, hist = 0, values = 0, codes = 0,
              bytes = 0;
};

// A launch in flight: its stream, buffers and where its outputs go.
struct Slot {
  Stream stream;
  DeviceBuffer<unsigned char> dev;
  PinnedBuffer<unsigned char> host;
  bool pending = false;
  std::uint64_t j0 = 0;     // offset into the call's outputs
  std::uint64_t first = 0;  // global block
  LaunchLayout lay;
};

static_assert(std::is_trivially_copyable<Tally>::value, "partials are copied as bytes");
static_assert(std::is_trivially_copyable<DrawSpec>::value, "the spec is a kernel argument");

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(use_device(device)) {
    cudaDeviceProp prop{};
    SPILLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    int sms = 0;
    SPILLMC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device_));

    require_kernel_image(reinterpret_cast<const void*>(tally_kernel<false, false>), device_);

    int per_sm = 0;
    SPILLMC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &per_sm, tally_kernel<false, false>, kThreads, 0));
    if (per_sm < 1) throw CudaError("the SpillMC kernel cannot run on " + std::string(prop.name));

    const std::uint64_t wave = static_cast<std::uint64_t>(sms) * per_sm;
    const std::uint64_t fit = kMaxChunkBytes / (wave * sizeof(Tally));
    chunk_ = wave * std::max<std::uint64_t>(1, std::min(kMaxWaves, fit));
    plan_chunk_ = chunk_;
    cudaFuncAttributes extra_attr{};
    SPILLMC_CUDA_CHECK(cudaFuncGetAttributes(&extra_attr, tally_kernel<true, true>));
    extra_static_shared_ = extra_attr.sharedSizeBytes;
    shared_optin_ = prop.sharedMemPerBlockOptin;

    // The PCI address tells GPUs apart when each MPI rank sees only its own as device 0.
    char pci[32] = {};
    SPILLMC_CUDA_CHECK(cudaDeviceGetPCIBusId(pci, static_cast<int>(sizeof pci), device_));
    std::ostringstream d;
    d << prop.name << " (device " << device_ << ", PCI " << pci << ", sm_" << prop.major
      << prop.minor << ", " << sms << " SMs)";
    description_ = d.str();
    stream_ = std::make_unique<Stream>();  // on device_, current since use_device
    // Test hook: chunks above this many blocks fail as if out of device memory.
    if (const char* v = std::getenv("SPILLMC_TEST_CUDA_OOM_BLOCKS"))
      oom_test_limit_ = std::max<std::uint64_t>(1, std::strtoull(v, nullptr, 10));
    // Test hook: the kernel traps in this global block (a device fault, sticky).
    if (const char* v = std::getenv("SPILLMC_TEST_CUDA_FAULT_BLOCK"))
      fault_test_block_ = std::strtoull(v, nullptr, 10);
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
        KernelPlan kp{};
        kp.draws = total_draws;
        kp.first_block = first_block + done;
        kp.out = buffer_.get();
        kp.fault_block = fault_test_block_;
        tally_kernel<false, false>
            <<<static_cast<unsigned>(n), kThreads, 0, stream>>>(spec, kp, KernelAnalysis{});
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

  // Sweep cells run from a device table of specs, all cells in one launch;
  // analyses and per-draw output in the same pass (tally_kernel<true, true>).
  // Launches alternate between two slots: while one computes, the other's
  // results come back through pinned memory and are unpacked.
  void compute_plan_blocks(const RunPlan& plan, std::uint64_t first_block, std::uint64_t nblocks,
                           Tally* partials, Extra* extras, DrawBatch* batches) override {
    if (nblocks == 0) return;
    if (plan.cells.size() == 1 && !extras && !batches) {
      compute_blocks(plan.cells.front(), plan.draws, first_block, nblocks, partials);
      return;
    }
    if (batches && plan.cells.size() != 1)
      throw Error("per-draw output of a sweep is not supported");  // refused by check_run_options
    SPILLMC_CUDA_CHECK(cudaSetDevice(device_));
    prepare(plan, extras != nullptr, batches != nullptr);
    for (Slot& s : slots_) s.pending = false;  // left over only from a call that threw
    int cur = 0;
    for (std::uint64_t done = 0; done < nblocks;) {
      Slot& slot = slots_[cur];
      if (slot.pending) finish(slot, plan, partials, extras, batches);
      std::uint64_t n = std::min(nblocks - done, plan_chunk_);
      LaunchLayout lay = layout(plan, first_block + done, n);
      while (n > 1 && lay.bytes > kMaxLaunchBytes) lay = layout(plan, first_block + done, n /= 2);
      // Out of memory (device or pinned): halve, down to one block, and keep
      // the smaller size; a block's results do not depend on the launch.
      cudaError_t err =
          n > oom_test_limit_ ? cudaErrorMemoryAllocation : slot.dev.try_reserve(lay.bytes);
      if (err == cudaSuccess) err = slot.host.try_reserve(lay.bytes);
      if (err == cudaSuccess) err = launch(slot, plan, first_block + done, lay);
      if (err == cudaErrorMemoryAllocation && n > 1) {
        plan_chunk_ = n / 2;
        continue;
      }
      if (err != cudaSuccess)
        throw_cuda_error(err, "allocating or launching a plan chunk", __FILE__, __LINE__);
      SPILLMC_CUDA_CHECK(cudaMemcpyAsync(slot.host.get(), slot.dev.get(), lay.bytes,
                                         cudaMemcpyDeviceToHost, slot.stream.get()));
      slot.pending = true;
      slot.j0 = done;
      slot.first = first_block + done;
      slot.lay = lay;
      done += n;
      cur ^= 1;
    }
    for (int q = 0; q < 2; ++q, cur ^= 1)  // the older launch first
      if (slots_[cur].pending) finish(slots_[cur], plan, partials, extras, batches);
  }

 private:
  // The analysis kernel's arguments that stay fixed for a plan, and its cells
  // on the device (uploaded again only when they change).
  void prepare(const RunPlan& plan, bool extra, bool draws) {
    if (cells_host_.size() != plan.cells.size() ||
        std::memcmp(cells_host_.data(), plan.cells.data(), plan.cells.size() * sizeof(DrawSpec)) !=
            0) {
      if (cells_dev_.try_reserve(plan.cells.size()) != cudaSuccess)
        throw CudaError("out of device memory for " + std::to_string(plan.cells.size()) +
                        " sweep cells");
      SPILLMC_CUDA_CHECK(cudaMemcpy(cells_dev_.get(), plan.cells.data(),
                                    plan.cells.size() * sizeof(DrawSpec), cudaMemcpyHostToDevice));
      cells_host_ = plan.cells;
    }
    const AnalysisSpec& a = plan.analysis;
    an_ = KernelAnalysis{};
    extra_ = extra || draws;
    dyn_shared_ = 0;
    if (extra) {
      if (a.hist_fields.size() > static_cast<std::size_t>(kNumFields) ||
          a.conditions.size() > static_cast<std::size_t>(kMaxConditions))
        throw Error("the CUDA backend takes at most one histogram per field and " +
                    std::to_string(kMaxConditions) + " conditions");
      std::uint64_t off = 0;
      an_.nhist = static_cast<int>(a.hist_fields.size());
      for (int h = 0; h < an_.nhist; ++h) {
        an_.hist_field[h] = a.hist_fields[static_cast<std::size_t>(h)];
        an_.hist_axis[h] = a.hist_axes[static_cast<std::size_t>(h)];
        an_.hist_offset[h] = static_cast<std::uint32_t>(off);
        off += static_cast<std::uint64_t>(hist_slot_count(an_.hist_axis[h]));
      }
      if (off > UINT32_MAX) throw Error("histograms too large for the CUDA backend");
      an_.hist_size = static_cast<std::uint32_t>(off);
      an_.ncond = static_cast<int>(a.conditions.size());
      for (int c = 0; c < an_.ncond; ++c) an_.cond[c] = a.conditions[static_cast<std::size_t>(c)];
      an_.paths = a.paths;
      // Path tiles, then per-block histogram counts when they fit beside the
      // static tiles (fewer resident blocks, far fewer global atomics).
      const std::size_t path_bytes = DynShared::path_bytes(an_.paths.n);
      const std::size_t hist_at = (path_bytes + 15) / 16 * 16;
      const std::size_t hist_bytes = off * sizeof(std::uint32_t);
      dyn_shared_ = path_bytes;
      if (an_.nhist > 0 && extra_static_shared_ + hist_at + hist_bytes <= shared_optin_) {
        an_.hist_shared = true;
        an_.dyn_hist = static_cast<std::uint32_t>(hist_at);
        dyn_shared_ = hist_at + hist_bytes;
      }
      SPILLMC_CUDA_CHECK(cudaFuncSetAttribute(tally_kernel<true, true>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(dyn_shared_)));
    }
    an_.select = DrawSelect::none;
    if (draws) {
      if (a.draws.fields.size() > static_cast<std::size_t>(kNumFields))
        throw Error("too many per-draw fields");
      an_.select = a.draws.select;
      an_.select_n = a.draws.n;
      an_.nfields = static_cast<int>(a.draws.fields.size());
      for (int q = 0; q < an_.nfields; ++q)
        an_.field[q] = a.draws.fields[static_cast<std::size_t>(q)];
    }
  }

  std::uint64_t segment_of(const RunPlan& plan, std::uint64_t g) const {
    const std::uint64_t bpc = plan.blocks_per_cell();
    return g / bpc * plan.segments_per_cell() + g % bpc / plan.segment_blocks;
  }

  LaunchLayout layout(const RunPlan& plan, std::uint64_t first, std::uint64_t n) const {
    LaunchLayout l;
    l.n = n;
    std::size_t off = 0;
    auto take = [&off](std::size_t bytes) {
      const std::size_t at = off;
      off += (bytes + 15) / 16 * 16;
      return at;
    };
    const auto nc = static_cast<std::size_t>(an_.ncond);
    const auto np = static_cast<std::size_t>(an_.paths.n);
    l.partials = take(n * sizeof(Tally));
    l.cond = take(n * nc * sizeof(Tally));
    l.path_gain = take(n * np * sizeof(Moments));
    l.path_best = take(np > 0 ? n * (np + 1) * sizeof(std::uint64_t) : 0);
    if (an_.nhist > 0) {
      l.seg_lo = segment_of(plan, first);
      l.hist_rows = segment_of(plan, first + n - 1) - l.seg_lo + 1;
    }
    l.hist = take(l.hist_rows * an_.hist_size * sizeof(std::uint64_t));
    if (an_.select != DrawSelect::none) {  // one cell: its draws are contiguous
      const std::uint64_t d0 = first * kBlockDraws;
      const std::uint64_t d1 = std::min(plan.draws, (first + n) * kBlockDraws);
      l.sel_first = selected_below(an_.select, an_.select_n, d0);
      l.rows = selected_below(an_.select, an_.select_n, d1) - l.sel_first;
    }
    l.values = take(l.rows * static_cast<std::size_t>(an_.nfields) * sizeof(double));
    l.codes = take(l.rows * 3);
    l.bytes = off;
    return l;
  }

  cudaError_t launch(Slot& slot, const RunPlan& plan, std::uint64_t first, const LaunchLayout& l) {
    unsigned char* d = slot.dev.get();
    const cudaStream_t stream = slot.stream.get();
    if (l.hist_rows > 0) {
      const cudaError_t err = cudaMemsetAsync(
          d + l.hist, 0, l.hist_rows * an_.hist_size * sizeof(std::uint64_t), stream);
      if (err != cudaSuccess) return err;
    }
    KernelPlan kp{};
    kp.cells = cells_dev_.get();
    kp.draws = plan.draws;
    kp.bpc = plan.blocks_per_cell();
    kp.spc = plan.segments_per_cell();
    kp.sb = plan.segment_blocks;
    kp.first_block = first;
    kp.out = reinterpret_cast<Tally*>(d + l.partials);
    kp.fault_block = fault_test_block_;
    KernelAnalysis an = an_;
    an.first_segment = l.seg_lo;
    an.hist = reinterpret_cast<std::uint64_t*>(d + l.hist);
    an.cond_out = reinterpret_cast<Tally*>(d + l.cond);
    an.path_gain = reinterpret_cast<Moments*>(d + l.path_gain);
    an.path_best = reinterpret_cast<std::uint64_t*>(d + l.path_best);
    an.sel_first = l.sel_first;
    an.rows = l.rows;
    an.values = reinterpret_cast<double*>(d + l.values);
    an.status = reinterpret_cast<std::int8_t*>(d + l.codes);
    an.regime2 = an.status + l.rows;
    an.regime_up = an.status + 2 * l.rows;
    const auto grid = static_cast<unsigned>(l.n);
    if (extra_) {
      tally_kernel<true, true><<<grid, kThreads, dyn_shared_, stream>>>(DrawSpec(), kp, an);
    } else {
      tally_kernel<true, false><<<grid, kThreads, 0, stream>>>(DrawSpec(), kp, an);
    }
    return cudaGetLastError();
  }

  // Waits for a slot's launch (kernel faults surface here) and unpacks it.
  void finish(Slot& slot, const RunPlan& plan, Tally* partials, Extra* extras, DrawBatch* batches) {
    SPILLMC_CUDA_CHECK(cudaStreamSynchronize(slot.stream.get()));
    slot.pending = false;
    const LaunchLayout& l = slot.lay;
    const unsigned char* h = slot.host.get();
    std::memcpy(partials + slot.j0, h + l.partials, l.n * sizeof(Tally));
    const auto nc = static_cast<std::size_t>(an_.ncond);
    const auto np = static_cast<std::size_t>(an_.paths.n);
    for (std::uint64_t j = 0; extras && j < l.n; ++j) {
      Extra& x = extras[slot.j0 + j];
      const auto* cond = reinterpret_cast<const Tally*>(h + l.cond) + j * nc;
      x.cond.assign(cond, cond + nc);
      const auto* gain = reinterpret_cast<const Moments*>(h + l.path_gain) + j * np;
      x.path_gain.assign(gain, gain + np);
      const auto* best = reinterpret_cast<const std::uint64_t*>(h + l.path_best) + j * (np + 1);
      if (np > 0) {
        x.path_best.assign(best, best + np + 1);
      } else {
        x.path_best.clear();
      }
      // A segment's counts go with its first block of the launch; the other
      // blocks' stay empty, which Extra::merge reads as zero.
      const std::uint64_t g = slot.first + j;
      const std::uint64_t seg = an_.nhist > 0 ? segment_of(plan, g) : 0;
      if (an_.nhist > 0 && (j == 0 || seg != segment_of(plan, g - 1))) {
        const auto* row =
            reinterpret_cast<const std::uint64_t*>(h + l.hist) + (seg - l.seg_lo) * an_.hist_size;
        x.hist.assign(row, row + an_.hist_size);
      } else {
        x.hist.clear();
      }
    }
    for (std::uint64_t j = 0; batches && j < l.n; ++j) {
      const std::uint64_t k = slot.first + j;  // one cell: global block = block
      const std::uint64_t d0 = k * kBlockDraws, d1 = d0 + block_length(plan.draws, k);
      const std::uint64_t r0 = selected_below(an_.select, an_.select_n, d0) - l.sel_first;
      const std::uint64_t r1 = selected_below(an_.select, an_.select_n, d1) - l.sel_first;
      DrawBatch& b = batches[slot.j0 + j];
      b.reset(static_cast<std::size_t>(an_.nfields));
      for (std::uint64_t i = d0; i < d1; ++i)
        if (selected_at(an_.select, an_.select_n, i)) b.index.push_back(i);
      const auto* codes = reinterpret_cast<const std::int8_t*>(h + l.codes);
      b.status.assign(codes + r0, codes + r1);
      b.regime2.assign(codes + l.rows + r0, codes + l.rows + r1);
      b.regime_up.assign(codes + 2 * l.rows + r0, codes + 2 * l.rows + r1);
      const auto* values = reinterpret_cast<const double*>(h + l.values);
      for (std::size_t q = 0; q < b.values.size(); ++q)
        b.values[q].assign(values + q * l.rows + r0, values + q * l.rows + r1);
    }
  }

  int device_;
  std::string description_;
  std::uint64_t chunk_ = 1;
  std::uint64_t plan_chunk_ = 1;
  std::uint64_t oom_test_limit_ = UINT64_MAX;
  std::uint64_t fault_test_block_ = UINT64_MAX;
  std::size_t extra_static_shared_ = 0, shared_optin_ = 0, dyn_shared_ = 0;
  std::vector<DrawSpec> cells_host_;
  DeviceBuffer<DrawSpec> cells_dev_;
  KernelAnalysis an_{};
  bool extra_ = false;
  // Declared after device_: destroyed first, while device_ is current.
  std::unique_ptr<Stream> stream_;
  DeviceBuffer<Tally> buffer_;
  Slot slots_[2];  // created with device_ current
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
  return std::make_unique<CudaBackend>(device_index);
}

}  // namespace spillmc
