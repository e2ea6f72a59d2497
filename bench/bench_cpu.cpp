// CPU throughput of SpillMC on the baseline config (configs/baseline.yaml).
//
//   run_blocks/threads:N   the whole job as `spillmc run` does it (summary mode):
//                          sampling, model, per-block accumulation, ordered fold
// and, single-threaded, the pieces of one draw to see where the time goes:
//   rng                    the Philox4x32-10 calls and uniform conversion of sample_params
//   sample_params          rng + the inverse CDFs (distributions.hpp)
//   beta/alpha:A/beta:B/gamma:M   beta's sampler alone: order statistic (M = 0) or gamma ratio
//   evaluate_model         check_params + evaluate_model + outputs_in_range on pre-sampled params
//   evaluate_draw          sample_params + the model (what one draw costs before tallying)
//   accumulate_block       one block of kBlockDraws draws, tallied (evaluate_draw + tally_draw)
//   accumulate_block_batched/isa:N   the same block on the batched SIMD path, per variant
// theta_beta/...: the batched block with theta ~ Beta(A, B) by order statistic or gamma ratio;
// and the batched and scalar blocks of configs/correlated.yaml (Gaussian copula), also
// with its correlation removed (correlated_off): what the copula costs.
//
// Every benchmark reports draws_per_second: per wall-clock second for run_blocks
// (several threads), per CPU second of the benchmark thread for the
// single-threaded pieces (steadier on a shared machine). See bench/README.md.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "spillmc/backend.hpp"
#include "spillmc/config.hpp"
#include "spillmc/cpu_batch.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/model.hpp"
#include "spillmc/run.hpp"
#include "spillmc/tally.hpp"

namespace {

using spillmc::DrawSpec;

const DrawSpec& baseline_spec() {
  static const DrawSpec spec =
      spillmc::load_config(SPILLMC_SOURCE_DIR "/configs/baseline.yaml").draw_spec();
  return spec;
}

// configs/correlated.yaml; `copula` false: the same marginals, independent.
const DrawSpec& correlated_spec(bool copula) {
  static const DrawSpec spec =
      spillmc::load_config(SPILLMC_SOURCE_DIR "/configs/correlated.yaml").draw_spec();
  static const DrawSpec off = [] {
    DrawSpec s = spec;
    s.copula = false;
    return s;
  }();
  return copula ? spec : off;
}

// The baseline with theta ~ Beta(alpha, beta), by the order statistic or, with
// `gamma`, by the gamma ratio (alpha + 1e-12 is not an integer; the law differs
// by 1e-12): what the 0.1.0 sampler cost, next to the one integer shapes take.
DrawSpec baseline_theta_beta(double alpha, double beta, bool gamma) {
  DrawSpec s = baseline_spec();
  s.dist[spillmc::S_A2p].p0 = gamma ? alpha + 1e-12 : alpha;
  s.dist[spillmc::S_A2p].p1 = beta;
  return s;
}

constexpr std::uint64_t kRunDraws = std::uint64_t{1} << 22;  // per iteration of run_blocks
constexpr std::uint64_t kBatch = 4096;                       // per iteration of the micro benches

void set_rate(benchmark::State& state, std::uint64_t draws) {
  state.counters["draws_per_second"] =
      benchmark::Counter(static_cast<double>(draws), benchmark::Counter::kIsRate);
}

// The whole job: run_blocks with the CPU backend, as `spillmc run --backend cpu` does.
void BM_run_blocks(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const DrawSpec& spec = baseline_spec();
  auto backend = spillmc::make_cpu_backend(threads);
  std::uint64_t draws = 0;
  for (auto _ : state) {
    spillmc::Tally t = spillmc::run_blocks(*backend, spec, kRunDraws);
    benchmark::DoNotOptimize(t);
    draws += t.draws;
  }
  set_rate(state, draws);
  state.SetLabel(backend->device());
}

// The Philox calls of sample_params alone (same skipping of all-fixed pairs).
void BM_rng(benchmark::State& state) {
  const DrawSpec& spec = baseline_spec();
  bool needed[spillmc::kNumSlots / 2];
  for (int pair = 0; pair < spillmc::kNumSlots / 2; ++pair)
    needed[pair] = spec.dist[2 * pair].kind != spillmc::DistKind::fixed ||
                   spec.dist[2 * pair + 1].kind != spillmc::DistKind::fixed;
  std::uint64_t first = 0;
  for (auto _ : state) {
    double acc = 0.0;
    for (std::uint64_t i = first; i < first + kBatch; ++i) {
      const spillmc::DrawRng rng{spec.seed, i, spec.stream};
      for (int pair = 0; pair < spillmc::kNumSlots / 2; ++pair) {
        if (!needed[pair]) continue;
        double u0, u1;
        rng.uniform2(spillmc::primary_slot(static_cast<std::uint32_t>(pair)), u0, u1);
        acc += u0 + u1;
      }
    }
    benchmark::DoNotOptimize(acc);
    first += kBatch;
  }
  set_rate(state, first);
}

void BM_sample_params(benchmark::State& state) {
  const DrawSpec& spec = baseline_spec();
  std::uint64_t first = 0;
  for (auto _ : state) {
    for (std::uint64_t i = first; i < first + kBatch; ++i) {
      spillmc::Params p = spillmc::sample_params(spec, i);
      benchmark::DoNotOptimize(p);
    }
    first += kBatch;
  }
  set_rate(state, first);
}

// One parameter's sampler alone (the inverse CDF, or beta's gamma rejection
// loops), from pre-drawn uniforms: where sample_params' time goes.
void BM_sample_slot(benchmark::State& state) {
  const DrawSpec& spec = baseline_spec();
  const auto slot = static_cast<int>(state.range(0));
  const spillmc::Dist& dist = spec.dist[slot];
  std::vector<double> u(kBatch);
  for (std::uint64_t i = 0; i < kBatch; i += 2) {
    const spillmc::DrawRng rng{spec.seed, i, spec.stream};
    rng.uniform2(spillmc::primary_slot(0), u[i], u[i + 1]);
  }
  std::uint64_t draws = 0;
  for (auto _ : state) {
    double acc = 0.0;
    for (std::uint64_t i = 0; i < kBatch; ++i) {
      const spillmc::DrawRng rng{spec.seed, draws + i, spec.stream};
      acc += spillmc::sample(dist, u[i], rng, static_cast<std::uint32_t>(slot));
    }
    benchmark::DoNotOptimize(acc);
    draws += kBatch;
  }
  set_rate(state, draws);
  state.SetLabel(spillmc::to_string(dist.kind));
}

// Beta's two samplers on the same draws, per (alpha, beta): the order
// statistic (method 0, integer shapes) and the gamma ratio (method 1). Where
// the first stops paying is what kBetaOrderMaxUniforms (distributions.hpp)
// is set from. Both include the primary Philox call of their uniform.
void BM_beta(benchmark::State& state) {
  const spillmc::Dist d{spillmc::DistKind::beta, static_cast<double>(state.range(0)),
                        static_cast<double>(state.range(1)), 0, 1};
  const bool order = state.range(2) == 0;
  std::uint64_t draws = 0;
  for (auto _ : state) {
    double acc = 0.0;
    for (std::uint64_t i = draws; i < draws + kBatch; ++i) {
      const spillmc::DrawRng rng{42, i, 0};
      double u, unused;
      rng.uniform2(spillmc::primary_slot(0), u, unused);
      acc += order ? spillmc::beta_order_statistic(d, u, rng, 5)
                   : spillmc::beta_gamma_ratio(d, rng, 5);
    }
    benchmark::DoNotOptimize(acc);
    draws += kBatch;
  }
  set_rate(state, draws);
}

void BM_evaluate_model(benchmark::State& state) {
  const DrawSpec& spec = baseline_spec();
  std::vector<spillmc::Params> params(kBatch);
  for (std::uint64_t i = 0; i < kBatch; ++i) params[i] = spillmc::sample_params(spec, i);
  std::uint64_t draws = 0;
  for (auto _ : state) {
    for (const spillmc::Params& p : params) {
      spillmc::Outcome o;
      int reason = spillmc::check_params(p);
      if (reason < 0) {
        spillmc::evaluate_model(p, spec.mode, o);
        reason = spillmc::outputs_in_range(o) ? -1 : spillmc::I_nonfinite_output;
      }
      benchmark::DoNotOptimize(reason);
      benchmark::DoNotOptimize(o);
    }
    draws += kBatch;
  }
  set_rate(state, draws);
}

void BM_evaluate_draw(benchmark::State& state) {
  const DrawSpec& spec = baseline_spec();
  std::uint64_t first = 0;
  for (auto _ : state) {
    for (std::uint64_t i = first; i < first + kBatch; ++i) {
      spillmc::Outcome o;
      int reason = spillmc::evaluate_draw(spec, i, o);
      benchmark::DoNotOptimize(reason);
      benchmark::DoNotOptimize(o);
    }
    first += kBatch;
  }
  set_rate(state, first);
}

void BM_accumulate_block(benchmark::State& state, const DrawSpec& spec) {
  const std::uint64_t nblocks = 64;
  const std::uint64_t total = nblocks * spillmc::kBlockDraws;
  std::uint64_t k = 0, draws = 0;
  for (auto _ : state) {
    spillmc::Tally t = spillmc::accumulate_block(spec, total, k % nblocks);
    benchmark::DoNotOptimize(t);
    draws += t.draws;
    ++k;
  }
  set_rate(state, draws);
}

// The batched SIMD block (what the CPU backend runs), per instruction-set
// variant: arg 0 best, 1 generic, 2 x86-64-v3, 3 x86-64-v4.
void BM_accumulate_block_batched(benchmark::State& state, const DrawSpec& spec) {
  const spillmc::BatchIsa isas[] = {spillmc::BatchIsa::best, spillmc::BatchIsa::generic,
                                    spillmc::BatchIsa::avx2, spillmc::BatchIsa::avx512};
  const spillmc::BatchIsa isa = isas[state.range(0)];
  if (!spillmc::batch_isa_supported(isa)) {
    state.SkipWithError("instruction set not supported by this CPU");
    return;
  }
  const std::uint64_t nblocks = 64;
  const std::uint64_t total = nblocks * spillmc::kBlockDraws;
  std::uint64_t k = 0, draws = 0;
  for (auto _ : state) {
    spillmc::Tally t = spillmc::accumulate_block_batched(spec, total, k % nblocks, isa);
    benchmark::DoNotOptimize(t);
    draws += t.draws;
    ++k;
  }
  set_rate(state, draws);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    (void)baseline_spec();
    (void)correlated_spec(true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu: cannot load the baseline config: %s\n", e.what());
    return 1;
  }
  const int all = omp_get_max_threads();
  auto* run = benchmark::RegisterBenchmark("run_blocks", BM_run_blocks);
  run->ArgName("threads")->Arg(1);
  if (all > 1) run->Arg(all);
  run->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("rng", BM_rng);
  benchmark::RegisterBenchmark("sample_params", BM_sample_params);
  benchmark::RegisterBenchmark("sample_slot", BM_sample_slot)
      ->ArgName("slot")
      ->DenseRange(0, spillmc::kNumSlots - 1);
  auto* beta = benchmark::RegisterBenchmark("beta", BM_beta)->ArgNames({"alpha", "beta", "gamma"});
  for (const auto& shapes :
       std::vector<std::pair<int, int>>{{2, 2}, {1, 4}, {3, 5}, {4, 8}, {2, 14}, {8, 8}})
    for (int method : {0, 1}) beta->Args({shapes.first, shapes.second, method});
  benchmark::RegisterBenchmark("evaluate_model", BM_evaluate_model);
  benchmark::RegisterBenchmark("evaluate_draw", BM_evaluate_draw);
  benchmark::RegisterBenchmark("accumulate_block", BM_accumulate_block, baseline_spec())
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("accumulate_block_batched", BM_accumulate_block_batched,
                               baseline_spec())
      ->ArgName("isa")
      ->DenseRange(0, 3)
      ->Unit(benchmark::kMillisecond);
  for (const auto& shapes : std::vector<std::pair<int, int>>{{2, 2}, {3, 5}, {8, 8}})
    for (const bool gamma : {false, true}) {
      const std::string name = "theta_beta/alpha:" + std::to_string(shapes.first) +
                               "/beta:" + std::to_string(shapes.second) +
                               (gamma ? "/gamma" : "/order") + "/accumulate_block_batched";
      benchmark::RegisterBenchmark(name.c_str(), BM_accumulate_block_batched,
                                   baseline_theta_beta(shapes.first, shapes.second, gamma))
          ->ArgName("isa")
          ->Arg(0)
          ->Unit(benchmark::kMillisecond);
    }
  benchmark::RegisterBenchmark("correlated/accumulate_block", BM_accumulate_block,
                               correlated_spec(true))
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("correlated/accumulate_block_batched", BM_accumulate_block_batched,
                               correlated_spec(true))
      ->ArgName("isa")
      ->DenseRange(0, 3)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("correlated_off/accumulate_block_batched",
                               BM_accumulate_block_batched, correlated_spec(false))
      ->ArgName("isa")
      ->Arg(0)
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
