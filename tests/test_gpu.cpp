// The CUDA backend against the CPU reference accumulate_block(), block by
// block. Without a CUDA device the GPU tests report SKIPPED; the availability
// tests and the check of the test specs themselves always run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "spillmc/analysis.hpp"
#include "spillmc/backend.hpp"
#include "spillmc/draw.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/histogram.hpp"
#include "spillmc/run.hpp"
#include "spillmc/tally.hpp"

#include "harness.hpp"

namespace {

using spillmc::DistKind;
using spillmc::DrawSpec;
using spillmc::kBlockDraws;
using spillmc::Tally;

// --- specs -------------------------------------------------------------------

spillmc::Dist dist(DistKind kind, double p0, double p1 = 0, double p2 = 0, double p3 = 0) {
  spillmc::Dist d;
  d.kind = kind;
  d.p0 = p0, d.p1 = p1, d.p2 = p2, d.p3 = p3;
  return d;
}
spillmc::Dist fixed(double v) {
  return dist(DistKind::fixed, v);
}
spillmc::Dist uniform(double lo, double hi) {
  return dist(DistKind::uniform, lo, hi);
}
spillmc::Dist normal(double mean, double sd) {
  return dist(DistKind::normal, mean, sd);
}
spillmc::Dist lognormal(double ml, double sl) {
  return dist(DistKind::lognormal, ml, sl);
}
spillmc::Dist triangular(double lo, double mode, double hi) {
  return dist(DistKind::triangular, lo, mode, hi);
}
spillmc::Dist truncnormal(double mean, double sd, double lo, double hi) {
  return dist(DistKind::truncnormal, mean, sd, lo, hi);
}
spillmc::Dist beta(double a, double b, double lo, double hi) {
  return dist(DistKind::beta, a, b, lo, hi);
}

DrawSpec make_spec(spillmc::Dist a, spillmc::Dist b, spillmc::Dist c, spillmc::Dist A1,
                   spillmc::Dist A2, spillmc::Dist A2p, std::uint64_t seed) {
  DrawSpec s;
  s.dist[spillmc::S_a] = a;
  s.dist[spillmc::S_b] = b;
  s.dist[spillmc::S_c] = c;
  s.dist[spillmc::S_A1] = A1;
  s.dist[spillmc::S_A2] = A2;
  s.dist[spillmc::S_A2p] = A2p;
  // As Config::draw_spec() does, so the device sees the per-run constants too.
  for (auto& d : s.dist) d = spillmc::prepared(d);
  s.seed = seed;
  return s;
}

struct Case {
  std::string name;
  DrawSpec spec;
  // Sampling uses only + - * / sqrt, which round identically on host and
  // device (the kernel is built with --fmad=false): per-draw values, hence
  // min and max, must agree bit for bit. log/exp/erfc/pow of CUDA's libm may
  // differ from glibc's in the last bit, so other specs get a tolerance there.
  bool exact_values;
};

// model.md's worked example: every draw identical.
DrawSpec worked_example() {
  return make_spec(fixed(10), fixed(1), fixed(2), fixed(1), fixed(2), fixed(1.5), 1);
}

// b around 0.3 with sd 0.5: about 27 % of draws have b <= 0; margins spread
// so that both games visit every regime.
DrawSpec invalid_and_regimes() {
  return make_spec(normal(5, 5), normal(0.3, 0.5), fixed(2), normal(0, 3), normal(1, 4),
                   uniform(-6, 6), 7);
}

// The other invalid reasons, with valid draws of moderate size. b is a fixed
// subnormal, so any positive margin overflows the outputs (nonfinite output);
// draws where no firm can produce stay valid. A1 = exp(400 z) is infinite for
// z > 1.775 (nonfinite parameter), large enough to make d + A1 positive for
// most z > 0, and below 1 for z < 0. Both borders are crossed only by a continuous variable, so
// a last-bit difference between CUDA's libm and glibc cannot move a draw
// across them in practice. (Beta with shapes < 1 would not do: whether its
// gamma variates underflow to 0 hangs on the last bit of pow() near 1e-323.)
DrawSpec invalid_nonfinite() {
  return make_spec(normal(0, 3), fixed(1e-320), fixed(2), lognormal(0, 400), normal(0, 1),
                   normal(0, 1), 11);
}

// harness.hpp's sparse_offset_spec: the kernel's shift search (ShiftSearch)
// must find shifts far into the block, often in different warp iterations
// (CudaTestSpecs.SparseOffsetNeedsTheBlockShift).
DrawSpec sparse_offset() {
  return spillmc_test::sparse_offset_spec(19);
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"worked_example", worked_example(), true});
  v.push_back({"elementary",
               make_spec(uniform(8, 12), uniform(0.5, 2), triangular(1, 2, 3.5), uniform(0, 2),
                         triangular(1, 2.5, 4), uniform(0.5, 3), 3),
               true});
  v.push_back({"mixed",
               make_spec(uniform(8, 12), lognormal(0, 0.25), triangular(1, 2, 3.5),
                         truncnormal(1, 0.5, 0, 2), normal(2, 0.5), beta(2, 3, 1, 2), 5),
               false});
  v.push_back({"invalid_and_regimes", invalid_and_regimes(), false});
  DrawSpec paper = invalid_and_regimes();
  paper.dist[spillmc::S_b] = lognormal(0, 0.5);
  paper.mode = spillmc::ModelMode::paper;
  paper.seed = 9;
  v.push_back({"paper", paper, false});
  DrawSpec relative = make_spec(normal(10, 1), uniform(0.5, 1.5), fixed(2), uniform(0, 2),
                                uniform(0, 2), beta(2, 2, 0, 1), 13);
  relative.a2_is_gap = true;     // slot A2 holds the gap A2 - A1
  relative.a2p_is_theta = true;  // slot A2p holds theta
  relative.stream = 4;
  v.push_back({"gap_theta", relative, false});
  v.push_back({"invalid_nonfinite", invalid_nonfinite(), false});
  // Betas by order statistics, K = min(alpha, beta) from 1 to 8, kept from both
  // ends: comparisons, + and *, so every value is exact on both backends.
  v.push_back({"integer_betas",
               make_spec(beta(2, 2, 8, 12), uniform(0.5, 2), beta(7, 3, 1, 3), beta(1, 15, 0, 2),
                         beta(8, 8, 1, 4), beta(5, 1, 0.5, 3), 17),
               true});
  v.push_back({"sparse_offset", sparse_offset(), true});
  return v;
}

// --- comparisons -------------------------------------------------------------

std::uint64_t blocks_of(std::uint64_t total) {
  return (total + kBlockDraws - 1) / kBlockDraws;
}

bool same_bits(const Tally& a, const Tally& b) {
  return std::memcmp(&a, &b, sizeof(Tally)) == 0;
}

// Summation order differs between the kernel and the sequential reference.
// Recursive summation of n terms errs by up to about n u sum|term| (u = 2^-53),
// and heavy tails get near that: one huge term makes the accumulator drop the
// low bits of every later small one. invalid_and_regimes (b near 0) shows sums
// of squares that differ by 7e-13 of their size between the two orders.
constexpr double kRel = 1e-12;
double sum_tolerance(std::uint64_t n) {
  const double bound = static_cast<double>(n) * 0x1p-53;
  return bound > kRel ? bound : kRel;
}

void expect_counts_equal(const Tally& cpu, const Tally& gpu) {
  EXPECT_EQ(gpu.draws, cpu.draws);
  EXPECT_EQ(gpu.valid, cpu.valid);
  for (int r = 0; r < spillmc::kNumInvalid; ++r)
    EXPECT_EQ(gpu.invalid[r], cpu.invalid[r]) << spillmc::kInvalidNames[r];
  EXPECT_EQ(gpu.a2crit_undefined, cpu.a2crit_undefined);
  for (int e = 0; e < spillmc::kNumEvents; ++e)
    EXPECT_EQ(gpu.events[e], cpu.events[e]) << spillmc::kEventNames[e];
  for (int r = 0; r < spillmc::kNumRegimes; ++r) {
    EXPECT_EQ(gpu.regime2[r], cpu.regime2[r]) << spillmc::kRegimeLabels[r];
    EXPECT_EQ(gpu.regime_up[r], cpu.regime_up[r]) << spillmc::kRegimeLabels[r];
  }
}

// One field's moments, CUDA against CPU. `shift` is near the summed values
// (the block's shift): tolerances relative to their scale stay meaningful for
// means and extremes near 0.
void expect_same_moments(const spillmc::Moments& r, const spillmc::Moments& g, double shift,
                         bool exact_values) {
  ASSERT_EQ(g.n, r.n);
  if (r.n == 0) {  // nothing added: the default Moments
    EXPECT_EQ(g.mean, 0.0);
    EXPECT_EQ(g.m2, 0.0);
    EXPECT_EQ(g.min, INFINITY);
    EXPECT_EQ(g.max, -INFINITY);
    return;
  }
  const double n = static_cast<double>(r.n);
  const double offset = r.mean - shift;
  const double sum_sq = r.m2 + n * offset * offset;  // sum of (x - shift)^2
  const double rms = std::sqrt(sum_sq / n);
  const double rel = sum_tolerance(r.n);
  EXPECT_LE(std::fabs(g.mean - r.mean), rel * (std::fabs(r.mean) + rms))
      << "gpu " << g.mean << " cpu " << r.mean;
  EXPECT_LE(std::fabs(g.m2 - r.m2), rel * sum_sq) << "gpu " << g.m2 << " cpu " << r.m2;
  if (exact_values) {
    EXPECT_EQ(g.min, r.min);
    EXPECT_EQ(g.max, r.max);
  } else {  // single values: a few ulps apart at most
    EXPECT_LE(std::fabs(g.min - r.min), kRel * (std::fabs(r.min) + rms))
        << "gpu " << g.min << " cpu " << r.min;
    EXPECT_LE(std::fabs(g.max - r.max), kRel * (std::fabs(r.max) + rms))
        << "gpu " << g.max << " cpu " << r.max;
  }
}

// Block k of a run of `total` draws: the CUDA partial against the CPU one.
void expect_same_partial(const Case& c, std::uint64_t total, std::uint64_t k, const Tally& cpu,
                         const Tally& gpu) {
  SCOPED_TRACE("block " + std::to_string(k));
  expect_counts_equal(cpu, gpu);
  double shift[spillmc::kNumFields];
  spillmc::block_shift(c.spec, k * kBlockDraws, spillmc::block_length(total, k), shift);
  for (int f = 0; f < spillmc::kNumFields; ++f) {
    SCOPED_TRACE(std::string("field ") + spillmc::kFieldNames[f]);
    expect_same_moments(cpu.field[f], gpu.field[f], shift[f], c.exact_values);
  }
}

// --- tests that need no GPU ----------------------------------------------------

TEST(CudaAvailability, DeviceCountNeverThrows) {
  int count = -1;
  EXPECT_NO_THROW(count = spillmc::cuda_device_count());
  EXPECT_GE(count, 0);
  if (!spillmc::cuda_compiled()) {
    EXPECT_EQ(count, 0);
  }
}

TEST(CudaAvailability, MakeBackendThrowsCudaErrorWhenUnavailable) {
  const int count = spillmc::cuda_device_count();
  // Without CUDA, or without a device, device 0 must fail; with devices, an
  // index past the last one must.
  const int bad_index = count == 0 ? 0 : count;
  try {
    (void)spillmc::make_cuda_backend(bad_index);
    FAIL() << "make_cuda_backend(" << bad_index << ") did not throw";
  } catch (const spillmc::CudaError& e) {
    EXPECT_EQ(e.exit_code(), spillmc::kExitCuda);
    const std::string msg = e.what();
    if (!spillmc::cuda_compiled()) {
      EXPECT_NE(msg.find("this build has no CUDA backend"), std::string::npos) << msg;
    } else if (count == 0) {
      EXPECT_NE(msg.find("CUDA device"), std::string::npos) << msg;
    } else {
      EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
    }
  }
}

// The specs below must exercise what their names claim, or the GPU tests
// would prove less than they seem to. CPU only.
TEST(CudaTestSpecs, InvalidSpecsCoverEveryReasonAndRegime) {
  const std::uint64_t total = 300000;
  Tally regimes, nonfinite;
  for (std::uint64_t k = 0; k < blocks_of(total); ++k) {
    regimes.merge(spillmc::accumulate_block(invalid_and_regimes(), total, k));
    nonfinite.merge(spillmc::accumulate_block(invalid_nonfinite(), total, k));
  }
  EXPECT_GT(regimes.invalid[spillmc::I_b_nonpositive], 0u);
  EXPECT_GT(regimes.a2crit_undefined, 0u);
  for (int r = 0; r < spillmc::kNumRegimes; ++r) {
    EXPECT_GT(regimes.regime2[r], 0u) << spillmc::kRegimeLabels[r];
    EXPECT_GT(regimes.regime_up[r], 0u) << spillmc::kRegimeLabels[r];
  }
  for (int e = 0; e < spillmc::kNumEvents; ++e) {
    EXPECT_GT(regimes.events[e], 0u) << spillmc::kEventNames[e];
    EXPECT_LT(regimes.events[e], regimes.valid) << spillmc::kEventNames[e];
  }
  EXPECT_GT(nonfinite.invalid[spillmc::I_nonfinite_parameter], 0u);
  EXPECT_GT(nonfinite.invalid[spillmc::I_nonfinite_output], 0u);
  EXPECT_GT(nonfinite.valid, 1000u);
}

// What sparse_offset claims: the shifts lie past the first warp iteration,
// A2_crit's often in a later one than the others', and a shift of 0 instead of
// block_shift's would fail the moment comparison of a GPU test. CPU only.
TEST(CudaTestSpecs, SparseOffsetNeedsTheBlockShift) {
  const DrawSpec spec = sparse_offset();
  const std::uint64_t total = 300000;
  const std::uint64_t iteration = 128;  // draws per warp iteration of the kernel
  int past_first = 0, crit_later = 0, crit_same = 0, caught = 0;
  for (std::uint64_t k = 0; k < blocks_of(total); ++k) {
    const std::uint64_t first = k * kBlockDraws, len = spillmc::block_length(total, k);
    std::uint64_t main_at = len, crit_at = len;
    spillmc::ShiftedSums unshifted;  // field a, shift 0
    for (std::uint64_t i = 0; i < len; ++i) {
      spillmc::Outcome o;
      if (spillmc::evaluate_draw(spec, first + i, o) >= 0) continue;
      if (main_at == len) main_at = i;
      if (crit_at == len && o.a2crit_defined) crit_at = i;
      unshifted.add(o.v[spillmc::F_a]);
    }
    ASSERT_LT(crit_at, len) << "block " << k;
    past_first += main_at >= iteration ? 1 : 0;
    crit_later += crit_at / iteration > main_at / iteration ? 1 : 0;
    crit_same += crit_at == main_at ? 1 : 0;
    const Tally t = spillmc::accumulate_block(spec, total, k);
    const spillmc::Moments& r = t.field[spillmc::F_a];
    const spillmc::Moments z = unshifted.moments();
    ASSERT_EQ(z.n, r.n);
    // expect_same_moments' bound on m2 (shift: the value of the first valid draw)
    double shift[spillmc::kNumFields];
    spillmc::block_shift(spec, first, len, shift);
    const double n = static_cast<double>(r.n), offset = r.mean - shift[spillmc::F_a];
    const double bound = sum_tolerance(r.n) * (r.m2 + n * offset * offset);
    caught += std::fabs(z.m2 - r.m2) > bound ? 1 : 0;
  }
  EXPECT_GT(past_first, 0);
  EXPECT_GT(crit_later, 0);
  EXPECT_GT(crit_same, 0);
  EXPECT_GT(caught, 0);
}

// --- tests on a CUDA device ------------------------------------------------------

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (spillmc::cuda_device_count() == 0) {
      std::string why = "CUDA not compiled in";
      if (spillmc::cuda_compiled()) {
        try {
          (void)spillmc::make_cuda_backend(0);
        } catch (const spillmc::CudaError& e) {
          why = e.what();  // e.g. the driver is missing or older than the runtime
        }
      }
      GTEST_SKIP() << "no CUDA device (" << why << ")";
    }
    backend_ = spillmc::make_cuda_backend(0);
  }

  std::vector<Tally> gpu(const DrawSpec& spec, std::uint64_t total, std::uint64_t first,
                         std::uint64_t n) {
    std::vector<Tally> out(n);
    backend_->compute_blocks(spec, total, first, n, out.data());
    return out;
  }

  std::unique_ptr<spillmc::Backend> backend_;
};

TEST_F(CudaBackendTest, DescribesItself) {
  EXPECT_EQ(backend_->name(), "cuda");
  EXPECT_NE(backend_->device().find("sm_"), std::string::npos) << backend_->device();
  EXPECT_GT(backend_->preferred_chunk_blocks(), 0u);
}

TEST_F(CudaBackendTest, RejectsDeviceIndexOutOfRange) {
  EXPECT_THROW((void)spillmc::make_cuda_backend(-1), spillmc::CudaError);
  EXPECT_THROW((void)spillmc::make_cuda_backend(spillmc::cuda_device_count()), spillmc::CudaError);
}

TEST_F(CudaBackendTest, ZeroBlocksIsANoOp) {
  EXPECT_NO_THROW(backend_->compute_blocks(worked_example(), 1000, 0, 0, nullptr));
}

// Every spec and run length, all blocks in one call plus one block past the
// end of the run (which must come back empty, as on the CPU).
TEST_F(CudaBackendTest, MatchesCpuReferenceBlockByBlock) {
  for (const Case& c : cases()) {
    for (const std::uint64_t total : {1ull, 1000ull, 65536ull, 65537ull, 300000ull}) {
      SCOPED_TRACE(c.name + ", total_draws " + std::to_string(total));
      const std::uint64_t n = blocks_of(total) + 1;
      const std::vector<Tally> g = gpu(c.spec, total, 0, n);
      for (std::uint64_t k = 0; k < n; ++k)
        expect_same_partial(c, total, k, spillmc::accumulate_block(c.spec, total, k), g[k]);
    }
  }
}

TEST_F(CudaBackendTest, WorkedExampleHasTheDocumentedValues) {
  const Tally t = gpu(worked_example(), 1000, 0, 1)[0];
  EXPECT_EQ(t.valid, 1000u);
  EXPECT_EQ(t.regime2[spillmc::R_both_active], 1000u);
  EXPECT_EQ(t.events[spillmc::E_leader_gains], 0u);  // 15.125 < 20.25
  EXPECT_EQ(t.field[spillmc::F_q12].mean, 5.5);
  EXPECT_EQ(t.field[spillmc::F_pi22].mean, 3.0625);
  EXPECT_EQ(t.field[spillmc::F_upgrade_gain].mean, 1.453125);
  EXPECT_EQ(t.field[spillmc::F_upgrade_gain].m2, 0.0);
}

// Draw indices past 2^32 use the counter's high word.
TEST_F(CudaBackendTest, MatchesCpuReferenceAtHighDrawIndices) {
  const std::uint64_t first = 70000;  // 70000 * 65536 > 2^32
  const std::uint64_t total = (first + 2) * kBlockDraws - 5;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<Tally> g = gpu(c.spec, total, first, 2);
    for (std::uint64_t j = 0; j < 2; ++j)
      expect_same_partial(c, total, first + j, spillmc::accumulate_block(c.spec, total, first + j),
                          g[j]);
  }
}

TEST_F(CudaBackendTest, ChunkingDoesNotChangeBits) {
  const std::uint64_t total = 300000;  // 5 blocks, the last one partial
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<Tally> all = gpu(c.spec, total, 0, 5);
    const std::vector<Tally> head = gpu(c.spec, total, 0, 2);
    const std::vector<Tally> tail = gpu(c.spec, total, 2, 3);
    for (std::uint64_t k = 0; k < 5; ++k) {
      EXPECT_TRUE(same_bits(all[k], gpu(c.spec, total, k, 1)[0])) << "block " << k;
      EXPECT_TRUE(same_bits(all[k], k < 2 ? head[k] : tail[k - 2])) << "block " << k;
    }
  }
}

TEST_F(CudaBackendTest, RunToRunBitIdentical) {
  const std::uint64_t total = 300000;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<Tally> a = gpu(c.spec, total, 0, 5);
    const std::vector<Tally> b = gpu(c.spec, total, 0, 5);
    for (std::uint64_t k = 0; k < 5; ++k) EXPECT_TRUE(same_bits(a[k], b[k])) << "block " << k;
  }
}

// More blocks than one chunk: several launches, many waves of CUDA blocks.
TEST_F(CudaBackendTest, LargeCallMatchesSingleBlockCalls) {
  const Case c{"elementary",
               make_spec(uniform(8, 12), uniform(0.5, 2), triangular(1, 2, 3.5), uniform(0, 2),
                         triangular(1, 2.5, 4), uniform(0.5, 3), 17),
               true};
  const std::uint64_t n = backend_->preferred_chunk_blocks() + 3;
  const std::uint64_t total = (n - 1) * kBlockDraws + 12345;
  const std::vector<Tally> all = gpu(c.spec, total, 0, n);
  for (const std::uint64_t k : {std::uint64_t{0}, n / 2, n - 4, n - 3, n - 2, n - 1}) {
    SCOPED_TRACE("block " + std::to_string(k));
    EXPECT_TRUE(same_bits(all[k], gpu(c.spec, total, k, 1)[0]));
  }
  for (const std::uint64_t k : {n - 2, n - 1})
    expect_same_partial(c, total, k, spillmc::accumulate_block(c.spec, total, k), all[k]);
}

// Out of device memory: the chunk is halved until it fits (here, as if at most 3
// blocks fit, through the SPILLMC_TEST_CUDA_OOM_BLOCKS hook) with the same bits.
TEST_F(CudaBackendTest, OutOfMemoryRetriesWithSmallerChunksSameBits) {
  const Case c = cases().front();
  const std::uint64_t total = 11 * kBlockDraws - 5;
  const std::vector<Tally> want = gpu(c.spec, total, 0, 11);
  ASSERT_EQ(setenv("SPILLMC_TEST_CUDA_OOM_BLOCKS", "3", 1), 0);
  std::unique_ptr<spillmc::Backend> small = spillmc::make_cuda_backend(0);
  unsetenv("SPILLMC_TEST_CUDA_OOM_BLOCKS");
  std::vector<Tally> got(11);
  small->compute_blocks(c.spec, total, 0, 11, got.data());
  EXPECT_LE(small->preferred_chunk_blocks(), 3u);
  for (std::uint64_t k = 0; k < 11; ++k) EXPECT_TRUE(same_bits(want[k], got[k])) << "block " << k;
}

// --- plans: sweep cells in one launch, analyses and per-draw output ------------

// Elementary draws (host and device values agree to the bit), so counts,
// histograms and best paths must agree exactly. cells > 1: a sweep over A1
// with one stream per cell, as make_run_plan builds it, whose last cell is
// sparse_offset (the analysis kernel's shift search, conditions included).
spillmc::RunPlan analysis_plan(std::uint64_t draws, int cells) {
  using namespace spillmc;
  RunPlan plan;
  const DrawSpec base = make_spec(uniform(8, 12), uniform(0.5, 2), triangular(1, 2, 3.5),
                                  uniform(0, 2), triangular(1, 2.5, 4), uniform(0.5, 3), 21);
  for (int c = 0; c < cells; ++c) {
    DrawSpec s = cells > 1 && c == cells - 1 ? sparse_offset() : base;
    if (cells > 1 && c < cells - 1) s.dist[S_A1] = prepared(fixed(0.25 + 0.5 * c));
    s.stream = static_cast<std::uint32_t>(c);
    plan.cells.push_back(s);
  }
  plan.draws = draws;
  AnalysisSpec& a = plan.analysis;
  // Ranges that cut off both tails, so under- and overflow are counted too.
  a.hist_fields = {F_q12, F_pi22, F_upgrade_gain, F_A2_crit, F_b};
  a.hist_axes = {make_hist_axis(2, 9, 64), make_hist_axis(0.5, 12, 1000),
                 make_hist_axis(-1, 6, 333), make_hist_axis(1.5, 3, 50),
                 make_hist_axis(0.6, 1.9, 7)};
  a.hist_from_pilot.assign(a.hist_fields.size(), false);
  a.conditions = {{E_leader_gains, false},
                  {E_leader_gains, true},
                  {E_upgrade_gain_positive, false},
                  {E_follower_active_up, true}};
  PathsSpec& p = a.paths;
  p.n = 3;
  for (int k = 0; k < p.n; ++k) {
    p.cost[k] = prepared(uniform(0.1 * k, 0.5 + 0.5 * k));
    p.p_success[k] = prepared(uniform(0.2, 0.9));
    p.theta_success[k] = prepared(triangular(0.3, 0.6 + 0.1 * k, 1.0));
    p.theta_failure[k] = prepared(fixed(0.05 * k));
  }
  return plan;
}

// The analysis plan must exercise what it claims. CPU only.
TEST(CudaTestSpecs, AnalysisPlanCoversConditionsPathsAndTails) {
  const spillmc::RunPlan plan = analysis_plan(150000, 1);
  auto cpu = spillmc::make_cpu_backend(2);
  const spillmc::SegmentProgress st = spillmc::run_plan_segments(*cpu, plan, 0, 1);
  ASSERT_EQ(st.extras.size(), 1u);
  const spillmc::Extra& x = st.extras[0];
  const std::uint64_t valid = st.segments[0].valid;
  for (const Tally& c : x.cond) {
    EXPECT_GT(c.valid, 0u);
    EXPECT_LT(c.valid, valid);
  }
  std::size_t off = 0;
  for (const spillmc::HistAxis& ax : plan.analysis.hist_axes) {
    const auto bins = static_cast<std::size_t>(ax.bins);
    EXPECT_GT(st.hist[off], 0u) << "underflow";
    EXPECT_GT(st.hist[off + bins + 1], 0u) << "overflow";
    off += bins + 2;
  }
  for (int k = 0; k <= plan.analysis.paths.n; ++k)
    EXPECT_GT(x.path_best[static_cast<std::size_t>(k)], 0u) << "path " << k;
}

// Every block's Tally, conditional Tallies, path moments and best-path counts,
// and the run's histograms: CUDA against the CPU backend.
TEST_F(CudaBackendTest, PlanAnalysesMatchCpu) {
  auto cpu = spillmc::make_cpu_backend(0);
  for (const int cells : {1, 3}) {
    SCOPED_TRACE(std::to_string(cells) + " cells");
    const spillmc::RunPlan plan = analysis_plan(150000, cells);  // 3 blocks per cell
    const std::uint64_t n = plan.total_blocks();
    std::vector<Tally> pc(n), pg(n);
    std::vector<spillmc::Extra> xc(n), xg(n);
    cpu->compute_plan_blocks(plan, 0, n, pc.data(), xc.data(), nullptr);
    backend_->compute_plan_blocks(plan, 0, n, pg.data(), xg.data(), nullptr);
    spillmc::Extra tc, tg;
    for (std::uint64_t j = 0; j < n; ++j) {
      const Case c{"cell", plan.cells[j / plan.blocks_per_cell()], true};
      const std::uint64_t k = j % plan.blocks_per_cell();
      expect_same_partial(c, plan.draws, k, pc[j], pg[j]);
      ASSERT_EQ(xg[j].cond.size(), xc[j].cond.size());
      for (std::size_t q = 0; q < xc[j].cond.size(); ++q) {
        SCOPED_TRACE("condition " + spillmc::condition_name(plan.analysis.conditions[q]));
        expect_same_partial(c, plan.draws, k, xc[j].cond[q], xg[j].cond[q]);
      }
      ASSERT_EQ(xg[j].path_gain.size(), xc[j].path_gain.size());
      for (std::size_t q = 0; q < xc[j].path_gain.size(); ++q) {
        SCOPED_TRACE("path " + std::to_string(q));
        const spillmc::Moments& r = xc[j].path_gain[q];
        expect_same_moments(r, xg[j].path_gain[q], r.value(), true);
      }
      EXPECT_EQ(xg[j].path_best, xc[j].path_best) << "block " << j;
      tc.merge(xc[j]);
      tg.merge(xg[j]);
    }
    EXPECT_EQ(tg.hist, tc.hist);
  }
}

spillmc::RunPlan sweep_of_cases(std::uint64_t draws) {
  spillmc::RunPlan plan;
  for (const Case& c : cases()) {
    plan.cells.push_back(c.spec);
    plan.cells.back().stream = static_cast<std::uint32_t>(plan.cells.size());
  }
  plan.draws = draws;
  return plan;
}

// All cells of a sweep in one launch from the spec table: every block as a
// call for its cell alone gives it (same bits).
TEST_F(CudaBackendTest, SweepCellsInOneLaunchMatchPerCellCalls) {
  const spillmc::RunPlan plan = sweep_of_cases(100000);  // 2 blocks per cell
  const std::uint64_t n = plan.total_blocks();
  std::vector<Tally> all(n);
  backend_->compute_plan_blocks(plan, 0, n, all.data(), nullptr, nullptr);
  for (std::uint64_t j = 0; j < n; ++j) {
    const DrawSpec& spec = plan.cells[j / plan.blocks_per_cell()];
    const std::uint64_t k = j % plan.blocks_per_cell();
    EXPECT_TRUE(same_bits(all[j], gpu(spec, plan.draws, k, 1)[0])) << "block " << j;
  }
}

bool same_extra_bits(const spillmc::Extra& a, const spillmc::Extra& b) {
  if (a.byte_size() != b.byte_size()) return false;
  std::vector<unsigned char> x(a.byte_size()), y(b.byte_size());
  a.to_bytes(x.data());
  b.to_bytes(y.data());
  return x == y;
}

// Launch boundaries, segment sizes and out-of-memory retries move where a
// segment's histogram lands among its blocks, never the totals of a range of
// segments (all of them, and each one alone, as shards would run them).
TEST_F(CudaBackendTest, PlanSegmentsDoNotDependOnChunking) {
  const spillmc::RunPlan plan = analysis_plan(5 * kBlockDraws - 7, 3);
  const std::uint64_t sb = 2;  // segments of 2 blocks: 3 per cell
  const std::uint64_t nseg = 3 * 3;
  const spillmc::SegmentProgress want =
      spillmc::run_plan_segments(*backend_, plan, 0, nseg, {}, nullptr, 0, sb);
  ASSERT_EQ(want.extras.size(), nseg);
  ASSERT_EQ(setenv("SPILLMC_TEST_CUDA_OOM_BLOCKS", "3", 1), 0);
  std::unique_ptr<spillmc::Backend> small = spillmc::make_cuda_backend(0);
  unsetenv("SPILLMC_TEST_CUDA_OOM_BLOCKS");
  for (const std::uint64_t chunk : {1, 3, 4, 7}) {
    for (spillmc::Backend* b : {backend_.get(), small.get()}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk));
      const spillmc::SegmentProgress got =
          spillmc::run_plan_segments(*b, plan, 0, nseg, {}, nullptr, chunk, sb);
      ASSERT_EQ(got.extras.size(), nseg);
      for (std::uint64_t j = 0; j < nseg; ++j) {
        EXPECT_TRUE(same_bits(got.segments[j], want.segments[j])) << "segment " << j;
        EXPECT_TRUE(same_extra_bits(got.extras[j], want.extras[j])) << "segment " << j;
      }
      EXPECT_EQ(got.hist, want.hist);
      std::vector<std::uint64_t> joined;
      for (std::uint64_t j = 0; j < nseg; ++j) {
        const spillmc::SegmentProgress one =
            spillmc::run_plan_segments(*b, plan, j, j + 1, {}, nullptr, chunk, sb);
        EXPECT_TRUE(same_bits(one.segments.at(0), want.segments[j])) << "segment " << j;
        spillmc::add_counts(joined, one.hist);
      }
      EXPECT_EQ(joined, want.hist);
    }
  }
}

// Per-draw output: every selected draw's codes and values, CUDA against CPU.
TEST_F(CudaBackendTest, PerDrawOutputMatchesCpu) {
  auto cpu = spillmc::make_cpu_backend(0);
  using spillmc::DrawSelect;
  for (const Case& c : {cases()[1], Case{"invalid_and_regimes", invalid_and_regimes(), false}}) {
    for (const auto& sel : {std::make_pair(DrawSelect::all, std::uint64_t{0}),
                            std::make_pair(DrawSelect::every, std::uint64_t{7}),
                            std::make_pair(DrawSelect::first, std::uint64_t{70000})}) {
      SCOPED_TRACE(c.name + ", selection " + std::to_string(static_cast<int>(sel.first)));
      spillmc::RunPlan plan = spillmc::plain_plan(c.spec, 150000);
      plan.analysis.draws.select = sel.first;
      plan.analysis.draws.n = sel.second;
      for (int f = 0; f < spillmc::kNumFields; ++f) plan.analysis.draws.fields.push_back(f);
      const std::uint64_t n = plan.total_blocks();
      std::vector<Tally> pc(n), pg(n);
      std::vector<spillmc::DrawBatch> bc(n), bg(n);
      cpu->compute_plan_blocks(plan, 0, n, pc.data(), nullptr, bc.data());
      backend_->compute_plan_blocks(plan, 0, n, pg.data(), nullptr, bg.data());
      for (std::uint64_t j = 0; j < n; ++j) {
        SCOPED_TRACE("block " + std::to_string(j));
        expect_same_partial(c, plan.draws, j, pc[j], pg[j]);
        ASSERT_EQ(bg[j].index, bc[j].index);
        EXPECT_EQ(bg[j].status, bc[j].status);
        EXPECT_EQ(bg[j].regime2, bc[j].regime2);
        EXPECT_EQ(bg[j].regime_up, bc[j].regime_up);
        ASSERT_EQ(bg[j].values.size(), bc[j].values.size());
        for (std::size_t q = 0; q < bc[j].values.size(); ++q) {
          const std::vector<double>& r = bc[j].values[q];
          const std::vector<double>& g = bg[j].values[q];
          ASSERT_EQ(g.size(), r.size());
          std::size_t bad = 0;
          for (std::size_t i = 0; i < r.size(); ++i) {
            const bool same = std::isnan(r[i]) ? std::isnan(g[i])
                              : c.exact_values
                                  ? g[i] == r[i]
                                  : std::fabs(g[i] - r[i]) <= kRel * (1.0 + std::fabs(r[i]));
            bad += same ? 0 : 1;
          }
          EXPECT_EQ(bad, 0u) << "field " << spillmc::kFieldNames[q];
        }
      }
    }
  }
}

}  // namespace
