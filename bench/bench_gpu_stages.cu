// Where a draw's time goes on the GPU: kernels that stop after each stage of a
// draw (the Philox calls, one parameter's sampler, all of sampling, the model)
// and the two halves of the normal quantile, timed with CUDA events over the
// same draws of one config. The full tally kernel's rate (`spillmc run`) minus
// the `evaluate` stage is what the statistics and the reduction cost.
// bench/run_gpu.sh runs it (Nsight Compute then counts each stage's
// instructions) and puts its JSON under "stages". Built with the CUDA backend's
// flags (--fmad=false, same register cap), so each stage compiles as in the
// real kernel, inlined there rather than here.
//
//   bench_gpu_stages CONFIG [--draws N] [--reps R] [--device D] [--only NAME[:SLOT]]
//
// prints JSON on stdout. Each stage launches its check, one warm-up, then R
// timed runs: with --only and --reps 1, the third launch is the one to profile.
//
// Every stage is first checked against the same sums computed on the host
// (relative 1e-12 per thread: CUDA's and glibc's log/exp may differ in the
// last bit), so a kernel that the compiler emptied cannot pass for fast.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "../kernels/cuda_util.cuh"
#include "spillmc/config.hpp"
#include "spillmc/draw.hpp"

namespace spillmc {
namespace {

constexpr int kThreads = 128;  // as the tally kernel; SPILLMC_CUDA_MIN_BLOCKS comes from CMake

enum class Stage : int { philox, slot, sample, evaluate, quantile, central, tail, beta_gamma };

struct StageInfo {
  Stage stage;
  const char* name;
  const char* what;
};

constexpr StageInfo kStages[] = {
    {Stage::philox, "philox",
     "the 3 primary Philox4x32-10 calls of a draw and their 6 uniforms (no sampler)"},
    {Stage::slot, "slot", "one Philox call and the sampler of one parameter (per slot)"},
    {Stage::sample, "sample", "sample_params: the six parameters of a draw"},
    {Stage::evaluate, "evaluate", "evaluate_draw: sampling and the model, no statistics"},
    {Stage::quantile, "quantile", "normal_quantile of both uniforms of one Philox call"},
    {Stage::central, "central", "only AS241's central branch, for both uniforms"},
    {Stage::tail, "tail", "only AS241's tail branch (log, sqrt), for both uniforms"},
    {Stage::beta_gamma, "beta_gamma",
     "the slot's beta by the gamma ratio (two Marsaglia-Tsang variates), which SpillMC uses for "
     "non-integer shapes and used for all shapes before 0.2.0 (compare with slot:K)"},
};

__constant__ DrawSpec c_spec;

// The value a stage folds into its thread's sum for draw i. Host and device.
SPILLMC_HD_INLINE double stage_value(Stage stage, const DrawSpec& spec, std::uint64_t i, int slot) {
  const DrawRng rng{spec.seed, i, spec.stream};
  double u0 = 0.0, u1 = 0.0, v = 0.0;
  switch (stage) {
    case Stage::philox:
      for (int pair = 0; pair < kNumSlots / 2; ++pair) {
        rng.uniform2(primary_slot(static_cast<std::uint32_t>(pair)), u0, u1);
        v += u0 + u1;
      }
      return v;
    case Stage::slot:
      rng.uniform2(primary_slot(static_cast<std::uint32_t>(slot / 2)), u0, u1);
      return sample(spec.dist[slot], slot % 2 ? u1 : u0, rng, static_cast<std::uint32_t>(slot));
    case Stage::sample: {
      const Params p = sample_params(spec, i);
      return p.a + p.b + p.c + p.A1 + p.A2 + p.A2p;
    }
    case Stage::evaluate: {
      Outcome o;
      const int reason = evaluate_draw(spec, i, o);
      if (reason >= 0) return reason;
      for (int f = 0; f < kNumFields; ++f)
        if (f != F_A2_crit || o.a2crit_defined) v += o.v[f];
      return v;
    }
    case Stage::quantile:
      rng.uniform2(primary_slot(0), u0, u1);
      return normal_quantile(u0) + normal_quantile(u1);
    case Stage::central:
      rng.uniform2(primary_slot(0), u0, u1);
      return as241_central(u0 - 0.5) + as241_central(u1 - 0.5);
    case Stage::tail:
      rng.uniform2(primary_slot(0), u0, u1);
      return as241_tail(std::sqrt(-std::log(u0))) + as241_tail(std::sqrt(-std::log(u1)));
    case Stage::beta_gamma:
      rng.uniform2(primary_slot(static_cast<std::uint32_t>(slot / 2)), u0, u1);
      // The primary call enters the sum so that, as in slot:K, it is not dead code.
      return u0 + u1 + beta_gamma_ratio(spec.dist[slot], rng, static_cast<std::uint32_t>(slot));
  }
  return NAN;
}

// Grid-stride over draws [0, n): thread t takes t, t + T, t + 2T, ...
template <Stage kStage>
__global__ void __launch_bounds__(kThreads, SPILLMC_CUDA_MIN_BLOCKS)
    stage_kernel(std::uint64_t n, int slot, double* out) {
  const std::uint64_t t = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  double acc = 0.0;
  for (std::uint64_t i = t; i < n; i += stride) acc += stage_value(kStage, c_spec, i, slot);
  out[t] = acc;
}

using Kernel = void (*)(std::uint64_t, int, double*);

Kernel kernel_of(Stage s) {
  switch (s) {
    case Stage::philox:
      return stage_kernel<Stage::philox>;
    case Stage::slot:
      return stage_kernel<Stage::slot>;
    case Stage::sample:
      return stage_kernel<Stage::sample>;
    case Stage::evaluate:
      return stage_kernel<Stage::evaluate>;
    case Stage::quantile:
      return stage_kernel<Stage::quantile>;
    case Stage::central:
      return stage_kernel<Stage::central>;
    case Stage::tail:
      return stage_kernel<Stage::tail>;
    case Stage::beta_gamma:
      return stage_kernel<Stage::beta_gamma>;
  }
  return nullptr;
}

// Mismatching threads of one small launch against the host's sums.
int check_stage(const StageInfo& st, int slot, const DrawSpec& spec, double* dev_out) {
  constexpr unsigned kBlocks = 8;
  constexpr std::uint64_t kThreadsTotal = kBlocks * kThreads;
  const std::uint64_t n = kThreadsTotal * 3 + 77;  // a ragged last round
  kernel_of(st.stage)<<<kBlocks, kThreads>>>(n, slot, dev_out);
  SPILLMC_CUDA_CHECK(cudaGetLastError());
  std::vector<double> got(kThreadsTotal);
  SPILLMC_CUDA_CHECK(
      cudaMemcpy(got.data(), dev_out, got.size() * sizeof(double), cudaMemcpyDeviceToHost));
  int bad = 0;
  for (std::uint64_t t = 0; t < kThreadsTotal; ++t) {
    double want = 0.0;
    for (std::uint64_t i = t; i < n; i += kThreadsTotal)
      want += stage_value(st.stage, spec, i, slot);
    const double tol = 1e-12 * std::max(1.0, std::fabs(want));
    if (!(std::fabs(got[t] - want) <= tol)) {
      if (bad++ == 0)
        std::fprintf(stderr,
                     "bench_gpu_stages: %s (slot %d) thread %llu: device %.17g, host %.17g\n",
                     st.name, slot, static_cast<unsigned long long>(t), got[t], want);
    }
  }
  return bad;
}

constexpr const char* kUsage =
    "usage: bench_gpu_stages CONFIG [--draws N] [--reps R] [--device D] [--only NAME[:SLOT]]\n";

int run(int argc, char** argv) {
  std::string config, only;
  double draws = 1ull << 28;
  int reps = 5, device = 0;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    const bool has_value = a + 1 < argc;
    if (arg == "--draws" && has_value) {
      draws = std::strtod(argv[++a], nullptr);
    } else if (arg == "--reps" && has_value) {
      reps = std::atoi(argv[++a]);
    } else if (arg == "--device" && has_value) {
      device = std::atoi(argv[++a]);
    } else if (arg == "--only" && has_value) {
      only = argv[++a];
    } else if (config.empty() && arg[0] != '-') {
      config = arg;
    } else {
      std::fprintf(stderr, "%s", kUsage);
      return 2;
    }
  }
  if (config.empty() || !(draws >= 1) || reps < 1) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const auto n = static_cast<std::uint64_t>(draws);
  const DrawSpec spec = load_config(config).draw_spec();

  SPILLMC_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  SPILLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  SPILLMC_CUDA_CHECK(cudaMemcpyToSymbol(c_spec, &spec, sizeof spec));
  cudaEvent_t start, stop;
  SPILLMC_CUDA_CHECK(cudaEventCreate(&start));
  SPILLMC_CUDA_CHECK(cudaEventCreate(&stop));

  std::printf("{\n \"device\": \"%s\",\n \"config\": \"%s\",\n \"draws\": %llu,\n \"reps\": %d,\n",
              prop.name, config.c_str(), static_cast<unsigned long long>(n), reps);
  std::printf(" \"threads_per_block\": %d,\n \"stages\": [", kThreads);
  int failures = 0;
  bool first = true;
  for (const StageInfo& st : kStages) {
    const bool per_slot = st.stage == Stage::slot || st.stage == Stage::beta_gamma;
    for (int slot = 0; slot < (per_slot ? kNumSlots : 1); ++slot) {
      if (st.stage == Stage::slot && spec.dist[slot].kind == DistKind::fixed) continue;
      if (st.stage == Stage::beta_gamma && spec.dist[slot].kind != DistKind::beta) continue;
      const std::string label =
          per_slot ? std::string(st.name) + ":" + std::to_string(slot) : st.name;
      if (!only.empty() && only != label) continue;
      const Kernel k = kernel_of(st.stage);
      int per_sm = 0;
      SPILLMC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, kThreads, 0));
      const unsigned blocks = static_cast<unsigned>(prop.multiProcessorCount * per_sm);
      DeviceBuffer<double> out;
      SPILLMC_CUDA_CHECK(out.try_reserve(std::max<std::size_t>(blocks, 8) * kThreads));
      const int bad = check_stage(st, slot, spec, out.get());
      failures += bad;
      k<<<blocks, kThreads>>>(n, slot, out.get());  // warm-up
      SPILLMC_CUDA_CHECK(cudaGetLastError());
      std::vector<double> rates;
      for (int r = 0; r < reps; ++r) {
        SPILLMC_CUDA_CHECK(cudaEventRecord(start));
        k<<<blocks, kThreads>>>(n, slot, out.get());
        SPILLMC_CUDA_CHECK(cudaEventRecord(stop));
        SPILLMC_CUDA_CHECK(cudaEventSynchronize(stop));
        SPILLMC_CUDA_CHECK(cudaGetLastError());
        float ms = 0.0f;
        SPILLMC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        rates.push_back(static_cast<double>(n) / (ms * 1e-3));
      }
      std::vector<double> sorted = rates;
      std::sort(sorted.begin(), sorted.end());
      const double median = sorted[sorted.size() / 2];
      std::printf("%s\n  {\"name\": \"%s\", \"what\": \"%s\",", first ? "" : ",", label.c_str(),
                  st.what);
      std::printf(" \"blocks\": %u, \"check\": \"%s\",\n   \"draws_per_second\": [", blocks,
                  bad == 0 ? "ok" : "MISMATCH");
      for (std::size_t r = 0; r < rates.size(); ++r) std::printf("%s%.6g", r ? ", " : "", rates[r]);
      std::printf("], \"median\": %.6g, \"ns_per_draw\": %.6g}", median, 1e9 / median);
      std::fflush(stdout);
      first = false;
    }
  }
  std::printf("\n ],\n \"checks_failed\": %d\n}\n", failures);
  SPILLMC_CUDA_CHECK(cudaEventDestroy(start));
  SPILLMC_CUDA_CHECK(cudaEventDestroy(stop));
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace spillmc

int main(int argc, char** argv) {
  try {
    return spillmc::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu_stages: %s\n", e.what());
    return 4;
  }
}
