// Config parsing, overrides, validation messages and the effective-YAML round
// trip. Messages are checked for the key path and FILE:LINE:COLUMN, since
// those are what a user needs to find the mistake.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/errors.hpp"

namespace spillmc {
namespace {

namespace fs = std::filesystem;

// Line numbers below refer to this text (1-based).
const std::vector<std::string> kBase = {
    "draws: 100",                                            // 1
    "seed: 5",                                               // 2
    "parameters:",                                           // 3
    "  a: {dist: uniform, low: 8, high: 12}",                // 4
    "  b: 1",                                                // 5
    "  c: {dist: normal, mean: 2, sd: 0.2}",                 // 6
    "  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}",  // 7
    "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}",   // 8
    "  theta: {dist: beta, alpha: 2, beta: 2}",              // 9
    "output:",                                               // 10
    "  path: out.h5",                                        // 11
};

std::string text_of(const std::vector<std::string>& lines) {
  std::string t;
  for (const auto& l : lines) t += l + "\n";
  return t;
}

// The base config with line `n` (1-based) replaced; an empty replacement
// removes the line's content but keeps the numbering.
std::string with_line(int n, const std::string& replacement) {
  auto lines = kBase;
  lines[static_cast<std::size_t>(n - 1)] = replacement;
  return text_of(lines);
}

// "x.yaml:N:C" where C is the 1-based column of `token` in `line`.
std::string loc(int n, const std::string& line, const std::string& token) {
  const std::size_t pos = line.find(token);
  EXPECT_NE(pos, std::string::npos) << token << " not in " << line;
  return "x.yaml:" + std::to_string(n) + ":" + std::to_string(pos + 1);
}

std::string error_of(const std::string& text, const std::vector<Override>& ov = {}) {
  try {
    parse_config_text(text, "x.yaml", ov);
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an InputError: " << e.what();
    return {};
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

// The error for base line `n` replaced by `line`.
std::string error_with(int n, const std::string& line) {
  return error_of(with_line(n, line));
}

#define EXPECT_HAS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg) << "\nlacks: " << (part)

// Expects "LOC: REST" where LOC is token's position on base line n.
void expect_error_at(int n, const std::string& line, const std::string& token,
                     const std::string& rest) {
  const std::string msg = error_with(n, line);
  EXPECT_EQ(msg.rfind(loc(n, line, token) + ": " + rest, 0), 0u)
      << "message: " << msg << "\nwanted:  " << loc(n, line, token) << ": " << rest;
}

bool same_double(double x, double y) {
  return std::memcmp(&x, &y, sizeof x) == 0;
}

void expect_same_config(const Config& x, const Config& y) {
  EXPECT_EQ(x.draws, y.draws);
  EXPECT_EQ(x.seed, y.seed);
  EXPECT_EQ(x.model, y.model);
  EXPECT_EQ(x.backend, y.backend);
  EXPECT_EQ(x.threads, y.threads);
  EXPECT_EQ(x.a2_is_gap, y.a2_is_gap);
  EXPECT_EQ(x.a2p_is_theta, y.a2p_is_theta);
  EXPECT_EQ(x.output_path, y.output_path);
  for (int s = 0; s < kNumSlots; ++s) {
    EXPECT_EQ(x.dist[s].kind, y.dist[s].kind) << "slot " << s;
    EXPECT_TRUE(same_double(x.dist[s].p0, y.dist[s].p0)) << "slot " << s;
    EXPECT_TRUE(same_double(x.dist[s].p1, y.dist[s].p1)) << "slot " << s;
    EXPECT_TRUE(same_double(x.dist[s].p2, y.dist[s].p2)) << "slot " << s;
    EXPECT_TRUE(same_double(x.dist[s].p3, y.dist[s].p3)) << "slot " << s;
  }
}

void expect_round_trip(const Config& cfg) {
  const std::string yaml = effective_yaml(cfg);
  SCOPED_TRACE(yaml);
  expect_same_config(parse_config_text(yaml, "effective"), cfg);
  // Idempotent: the effective YAML of the re-read config is the same text.
  EXPECT_EQ(effective_yaml(parse_config_text(yaml, "effective")), yaml);
}

std::vector<fs::path> bundled_configs() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(SPILLMC_SOURCE_DIR) / "configs")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---- reading good configs -----------------------------------------------------

TEST(Config, ParsesTheBaseConfig) {
  const Config cfg = parse_config_text(text_of(kBase), "x.yaml");
  EXPECT_EQ(cfg.draws, 100u);
  EXPECT_EQ(cfg.seed, 5u);
  EXPECT_EQ(cfg.model, ModelMode::constrained);
  EXPECT_EQ(cfg.backend, BackendChoice::automatic);
  EXPECT_EQ(cfg.threads, 0);
  EXPECT_EQ(cfg.output_path, "out.h5");
  EXPECT_EQ(cfg.source, "x.yaml");
  EXPECT_EQ(cfg.dist[S_a].kind, DistKind::uniform);
  EXPECT_EQ(cfg.dist[S_a].p0, 8);
  EXPECT_EQ(cfg.dist[S_a].p1, 12);
  EXPECT_EQ(cfg.dist[S_b].kind, DistKind::fixed);
  EXPECT_EQ(cfg.dist[S_b].p0, 1);
  EXPECT_EQ(cfg.dist[S_c].kind, DistKind::normal);
  EXPECT_EQ(cfg.dist[S_c].p1, 0.2);
  EXPECT_EQ(cfg.dist[S_A1].kind, DistKind::triangular);
  EXPECT_EQ(cfg.dist[S_A1].p1, 1);
  EXPECT_EQ(cfg.dist[S_A1].p2, 2);
  EXPECT_EQ(cfg.dist[S_A2].kind, DistKind::lognormal);
  EXPECT_EQ(cfg.dist[S_A2].p1, 0.5);
  EXPECT_TRUE(cfg.a2_is_gap);
  EXPECT_EQ(cfg.dist[S_A2p].kind, DistKind::beta);
  EXPECT_EQ(cfg.dist[S_A2p].p2, 0);  // beta low/high default to [0, 1]
  EXPECT_EQ(cfg.dist[S_A2p].p3, 1);
  EXPECT_TRUE(cfg.a2p_is_theta);
}

TEST(Config, DefaultsForEverythingButParameters) {
  const Config cfg =
      parse_config_text("parameters: {a: 10, b: 1, c: 2, A1: 1, A2: 2, A2p: 1.5}\n", "x.yaml");
  const Config defaults;
  EXPECT_EQ(cfg.draws, defaults.draws);
  EXPECT_EQ(cfg.seed, defaults.seed);
  EXPECT_EQ(cfg.model, ModelMode::constrained);
  EXPECT_EQ(cfg.backend, BackendChoice::automatic);
  EXPECT_EQ(cfg.threads, 0);
  EXPECT_EQ(cfg.output_path, "spillmc.h5");
  EXPECT_FALSE(cfg.a2_is_gap);
  EXPECT_FALSE(cfg.a2p_is_theta);
  EXPECT_EQ(cfg.dist[S_A2p].kind, DistKind::fixed);
  EXPECT_EQ(cfg.dist[S_A2p].p0, 1.5);
}

TEST(Config, EveryDistributionForm) {
  const Config cfg = parse_config_text(
      "model: paper\nbackend: cpu\nthreads: 3\nparameters:\n"
      "  a: {dist: fixed, value: 10}\n"
      "  b: {dist: truncnormal, mean: 1, sd: 0.5, low: 0.1, high: 3}\n"
      "  c: {dist: uniform, low: 1, high: 3}\n"
      "  A1: {dist: normal, mean: 1, sd: 0.1}\n"
      "  A2: {dist: lognormal, meanlog: 0.5, sdlog: 0.1}\n"
      "  A2p: {dist: beta, alpha: 2, beta: 5, low: 1, high: 1.6}\n",
      "x.yaml");
  EXPECT_EQ(cfg.model, ModelMode::paper);
  EXPECT_EQ(cfg.backend, BackendChoice::cpu);
  EXPECT_EQ(cfg.threads, 3);
  EXPECT_EQ(cfg.dist[S_a].kind, DistKind::fixed);
  EXPECT_EQ(cfg.dist[S_a].p0, 10);
  const Dist& b = cfg.dist[S_b];
  EXPECT_EQ(b.kind, DistKind::truncnormal);
  EXPECT_EQ(b.p0, 1);
  EXPECT_EQ(b.p1, 0.5);
  EXPECT_EQ(b.p2, 0.1);
  EXPECT_EQ(b.p3, 3);
  EXPECT_EQ(cfg.dist[S_A2].kind, DistKind::lognormal);
  EXPECT_EQ(cfg.dist[S_A2].p0, 0.5);
  const Dist& p = cfg.dist[S_A2p];
  EXPECT_EQ(p.kind, DistKind::beta);
  EXPECT_EQ(p.p0, 2);
  EXPECT_EQ(p.p1, 5);
  EXPECT_EQ(p.p2, 1);
  EXPECT_EQ(p.p3, 1.6);
  EXPECT_FALSE(cfg.a2_is_gap);
  EXPECT_FALSE(cfg.a2p_is_theta);
}

TEST(Config, IntegersInFloatFormAndQuoted) {
  EXPECT_EQ(parse_config_text(with_line(1, "draws: 1e7"), "x").draws, 10000000u);
  EXPECT_EQ(parse_config_text(with_line(1, "draws: \"1e7\""), "x").draws, 10000000u);
  EXPECT_EQ(parse_config_text(with_line(1, "draws: 2.5e1"), "x").draws, 25u);
  EXPECT_EQ(parse_config_text(with_line(1, "draws: '42'"), "x").draws, 42u);
  EXPECT_EQ(parse_config_text(with_line(2, "seed: 18446744073709551615"), "x").seed, UINT64_MAX);
  EXPECT_EQ(parse_config_text(with_line(2, "seed: 0"), "x").seed, 0u);
  EXPECT_EQ(parse_config_text(with_line(5, "  b: '1.5'"), "x").dist[S_b].p0, 1.5);
  EXPECT_EQ(parse_config_text(with_line(5, "  b: +.5e1"), "x").dist[S_b].p0, 5);
}

// ---- validation messages ----------------------------------------------------------

TEST(ConfigErrors, UnknownKeysAtEveryLevel) {
  expect_error_at(1, "drwas: 100", "drwas", "unknown key 'drwas' (did you mean 'draws'?)");
  expect_error_at(1, "colour: red", "colour", "unknown key 'colour' (known keys: draws,");
  expect_error_at(1, "a: 10", "a", "unknown key 'a' ('a' is a parameter: put it under");
  expect_error_at(5, "  A2gap: 1", "A2gap",
                  "parameters: unknown key 'A2gap' (did you mean 'A2_gap'?)");
  expect_error_at(5, "  a1: 1", "a1", "parameters: unknown key 'a1' (did you mean 'A1'?)");
  expect_error_at(5, "  d: 1", "d", "parameters: unknown key 'd' (parameters are a, b, c,");
  expect_error_at(5, "  seed: 1", "seed",
                  "parameters: unknown key 'seed' ('seed' is a top-level key");
  expect_error_at(4, "  a: {dist: uniform, low: 8, hgih: 12}", "hgih",
                  "parameters.a: unknown key 'hgih' (did you mean 'high'?)");
  expect_error_at(4, "  a: {dist: uniform, low: 8, high: 12, sd: 1}", "sd",
                  "parameters.a: unknown key 'sd' for a uniform distribution (it takes low, high)");
  expect_error_at(4, "  a: {dist: uniform, low: 8, high: 12, colour: 1}", "colour",
                  "parameters.a: unknown key 'colour' (a uniform takes low, high)");
  expect_error_at(4, "  a: {distr: uniform, low: 8, high: 12}", "distr",
                  "parameters.a: unknown key 'distr' (did you mean 'dist'?)");
  expect_error_at(11, "  pth: out.h5", "pth", "output: unknown key 'pth' (did you mean 'path'?)");
}

TEST(ConfigErrors, WrongTypes) {
  expect_error_at(1, "draws: [1, 2]", "[", "draws: expected an integer, got a sequence");
  expect_error_at(1, "draws: many", "many", "draws: expected an integer, got 'many'");
  expect_error_at(4, "  a: {dist: uniform, low: abc, high: 12}", "abc",
                  "parameters.a.low: expected a number, got 'abc'");
  expect_error_at(4, "  a: {dist: uniform, low: {x: 1}, high: 12}", "{x",
                  "parameters.a.low: expected a number, got a map");
  expect_error_at(4, "  a: {dist: uniform, low: [8], high: 12}", "[8]",
                  "parameters.a.low: expected a number, got a sequence");
  expect_error_at(4, "  a: {dist: uniform, low: true, high: 12}", "true",
                  "parameters.a.low: expected a number, got 'true'");
  expect_error_at(5, "  b: [1, 2]", "[",
                  "parameters.b: expected a number or a {dist: ...} map, got a sequence");
  expect_error_at(5, "  b: uniform", "uniform",
                  "parameters.b: expected a number or a {dist: ...} map, got 'uniform'");
  {
    auto lines = kBase;
    lines[9] = "output: out.h5";
    lines[10] = "";
    EXPECT_HAS(error_of(text_of(lines)),
               "x.yaml:10:9: output: expected a map such as {path: results/run.h5}, got 'out.h5'");
  }
  expect_error_at(11, "  path: [a, b]", "[", "output.path: expected a file path, got a sequence");
  expect_error_at(11, "  path: ''", "''", "output.path: must not be empty");
  expect_error_at(4, "  a: {dist: [uniform], low: 8, high: 12}", "[",
                  "parameters.a.dist: unknown distribution a sequence");
  EXPECT_HAS(error_of("draws: 5\nparameters: 5\n"),
             "x.yaml:2:13: parameters: expected a map of parameters");
}

TEST(ConfigErrors, EmptyValuesPointAtTheKey) {
  // yaml-cpp marks an empty value at whatever follows; the key is clearer.
  expect_error_at(2, "seed:", "seed", "seed: has no value");
  expect_error_at(5, "  b:", "b", "parameters.b: has no value");
  expect_error_at(4, "  a: {dist: uniform, low: ~, high: 12}", "low",
                  "parameters.a.low: has no value");
}

TEST(ConfigErrors, MissingParametersAndFields) {
  // Line 7 (A1) blanked: the parameters map starts at line 4, column 3.
  EXPECT_EQ(error_with(7, "").rfind("x.yaml:4:3: parameters: missing 'A1'", 0), 0u)
      << error_with(7, "");
  EXPECT_HAS(error_of("parameters: {a: 1, b: 1}\n"),
             "x.yaml:1:13: parameters: missing 'c', 'A1', 'A2' or 'A2_gap', 'A2p' or 'theta'");
  expect_error_at(6, "  c: {dist: normal, mean: 2}", "{",
                  "parameters.c: missing 'sd' (a normal distribution needs mean, sd)");
  expect_error_at(4, "  a: {low: 8, high: 12}", "{",
                  "parameters.a: missing 'dist' (one of fixed, uniform, normal, truncnormal, "
                  "lognormal, triangular, beta)");
  expect_error_at(4, "  a: {dist: fixed}", "{", "parameters.a: missing 'value'");
  EXPECT_EQ(error_of("draws: 5\nseed: 1\n").rfind("x.yaml:1:1: missing 'parameters'", 0), 0u);
}

TEST(ConfigErrors, UnknownDistribution) {
  expect_error_at(4, "  a: {dist: unifrom, low: 8, high: 12}", "unifrom",
                  "parameters.a.dist: unknown distribution 'unifrom' (did you mean 'uniform'?); "
                  "expected one of fixed, uniform, normal, truncnormal, lognormal, triangular, "
                  "beta");
  expect_error_at(4, "  a: {dist: gaussian, mean: 8, sd: 1}", "gaussian",
                  "parameters.a.dist: unknown distribution 'gaussian'; expected one of");
}

TEST(ConfigErrors, NonFiniteNumbers) {
  expect_error_at(5, "  b: .nan", ".nan", "parameters.b: must be finite (got .nan)");
  expect_error_at(5, "  b: .inf", ".inf", "parameters.b: must be finite (got .inf)");
  expect_error_at(5, "  b: -.Inf", "-.Inf", "parameters.b: must be finite (got -.inf)");
  expect_error_at(6, "  c: {dist: normal, mean: .NaN, sd: 0.2}", ".NaN",
                  "parameters.c.mean: must be finite (got .nan)");
  expect_error_at(5, "  b: {dist: fixed, value: .inf}", ".inf",
                  "parameters.b.value: must be finite (got .inf)");
  expect_error_at(5, "  b: 1e999", "1e999", "parameters.b: number out of range (got '1e999')");
  // Spellings that are not YAML numbers are not numbers here either.
  expect_error_at(5, "  b: inf", "inf", "parameters.b: expected a number or a {dist: ...} map");
  expect_error_at(5, "  b: 0x10", "0x10", "parameters.b: expected a number or a {dist: ...} map");
  expect_error_at(1, "draws: .inf", ".inf", "draws: must be a finite integer (got '.inf')");
}

TEST(ConfigErrors, DistributionConstraints) {
  expect_error_at(6, "  c: {dist: normal, mean: 2, sd: -1}", "-1",
                  "parameters.c.sd: must be > 0 (got -1)");
  expect_error_at(6, "  c: {dist: normal, mean: 2, sd: 0}", "0}",
                  "parameters.c.sd: must be > 0 (got 0)");
  expect_error_at(6, "  c: {dist: truncnormal, mean: 2, sd: 0, low: 1, high: 3}", "0,",
                  "parameters.c.sd: must be > 0 (got 0)");
  expect_error_at(8, "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0}", "0}",
                  "parameters.A2_gap.sdlog: must be > 0 (got 0)");
  expect_error_at(4, "  a: {dist: uniform, low: 12, high: 8}", "{",
                  "parameters.a: low (12) must be < high (8)");
  expect_error_at(4, "  a: {dist: uniform, low: 8, high: 8}", "{",
                  "parameters.a: low (8) must be < high (8)");
  expect_error_at(4, "  a: {dist: uniform, low: -1e308, high: 1e308}", "{",
                  "parameters.a: high - low overflows");
  expect_error_at(6, "  c: {dist: truncnormal, mean: 2, sd: 1, low: 3, high: 1}", "{",
                  "parameters.c: low (3) must be < high (1)");
  expect_error_at(7, "  A1: {dist: triangular, low: 2, mode: 1, high: 0.5}", "{",
                  "parameters.A1: low (2) must be < high (0.5)");
  expect_error_at(7, "  A1: {dist: triangular, low: 0.5, mode: 3, high: 2}", "3",
                  "parameters.A1.mode: must lie in [low, high] = [0.5, 2] (got 3)");
  expect_error_at(7, "  A1: {dist: triangular, low: 0.5, mode: 0.4, high: 2}", "0.4",
                  "parameters.A1.mode: must lie in [low, high] = [0.5, 2] (got 0.4)");
  expect_error_at(9, "  theta: {dist: beta, alpha: 0, beta: 2}", "0,",
                  "parameters.theta.alpha: must be > 0 (got 0)");
  expect_error_at(9, "  theta: {dist: beta, alpha: 2, beta: -0.5}", "-0.5",
                  "parameters.theta.beta: must be > 0 (got -0.5)");
  expect_error_at(9, "  theta: {dist: beta, alpha: 2, beta: 2, low: 0.5, high: 0.2}", "{",
                  "parameters.theta: low (0.5) must be < high (0.2)");
  // Endpoints of a triangular's mode are fine.
  EXPECT_NO_THROW(
      parse_config_text(with_line(7, "  A1: {dist: triangular, low: 0.5, mode: 2, high: 2}"), "x"));
}

TEST(ConfigErrors, ExactlyOneOfTheAlternatives) {
  auto lines = kBase;
  lines.insert(lines.begin() + 8, "  A2: 3");  // after A2_gap, before theta
  const std::string both = error_of(text_of(lines));
  EXPECT_EQ(
      both.rfind("x.yaml:9:3: parameters: give exactly one of 'A2' and 'A2_gap', not both", 0), 0u)
      << both;
  lines = kBase;
  lines.insert(lines.begin() + 4, "  A2p: 1.5");  // before theta
  EXPECT_EQ(
      error_of(text_of(lines))
          .rfind("x.yaml:10:3: parameters: give exactly one of 'A2p' and 'theta', not both", 0),
      0u)
      << error_of(text_of(lines));
  EXPECT_HAS(error_with(8, ""), "x.yaml:4:3: parameters: missing 'A2' or 'A2_gap'");
  EXPECT_HAS(error_with(9, ""), "x.yaml:4:3: parameters: missing 'A2p' or 'theta'");
}

TEST(ConfigErrors, DrawsSeedThreads) {
  expect_error_at(1, "draws: 0", "0", "draws: must be an integer >= 1 (got 0)");
  expect_error_at(1, "draws: -5", "-5", "draws: must be an integer >= 1 (got -5)");
  expect_error_at(1, "draws: 2.5", "2.5", "draws: must be a whole number (got '2.5')");
  expect_error_at(1, "draws: 1e30", "1e30",
                  "draws: too large for float form (got '1e30'); above 2^53 write the integer in "
                  "plain digits");
  expect_error_at(1, "draws: 1e999", "1e999", "draws: too large for float form");
  // The largest draws, in float form (without histograms, whose per-segment
  // counters would not fit; see Limits.DrawsKeepTheirStateWithinFourGiB).
  EXPECT_EQ(
      parse_config_text(with_line(1, "draws: 1.40737488355328e14") + "histograms: false\n", "x")
          .draws,
      140737488355328u);
  expect_error_at(2, "seed: -1", "-1", "seed: must be an integer in [0, 2^64-1] (got -1)");
  expect_error_at(2, "seed: 18446744073709551616", "1844",
                  "seed: too large (got '18446744073709551616'; at most 18446744073709551615)");
  expect_error_at(2, "threads: -1", "-1", "threads: must be an integer >= 0 (0: all cores)");
  expect_error_at(2, "threads: 1.5", "1.5", "threads: must be a whole number");
  expect_error_at(2, "threads: 99999999999", "999",
                  "threads: too large (got 99999999999; at most 1024)");
}

TEST(ConfigErrors, EnumsListTheAllowedValues) {
  expect_error_at(2, "model: foo", "foo", "model: must be one of constrained, paper (got 'foo')");
  expect_error_at(2, "model: papr", "papr",
                  "model: must be one of constrained, paper (got 'papr') (did you mean 'paper'?)");
  expect_error_at(2, "backend: gpu", "gpu", "backend: must be one of auto, cpu, cuda (got 'gpu')");
  expect_error_at(2, "backend: [cpu]", "[",
                  "backend: must be one of auto, cpu, cuda (got a sequence)");
  EXPECT_HAS(error_with(2, "backend: CPU"),
             "x.yaml:2:10: backend: must be one of auto, cpu, cuda "
             "(got 'CPU') (did you mean 'cpu'?)");
}

TEST(ConfigErrors, ThetaMustStayInTheUnitInterval) {
  expect_error_at(9, "  theta: 1.5", "1.5", "parameters.theta: theta must lie in [0, 1] (got 1.5)");
  expect_error_at(9, "  theta: {dist: fixed, value: -0.1}", "-0.1",
                  "parameters.theta.value: theta must lie in [0, 1] (got -0.1)");
  expect_error_at(9, "  theta: {dist: uniform, low: 0.2, high: 1.2}", "{",
                  "parameters.theta: theta must stay in [0, 1], but [low, high] = [0.2, 1.2]");
  expect_error_at(9, "  theta: {dist: truncnormal, mean: 0.5, sd: 1, low: -0.1, high: 1}", "{",
                  "parameters.theta: theta must stay in [0, 1]");
  expect_error_at(9, "  theta: {dist: triangular, low: 0, mode: 1, high: 1.01}", "{",
                  "parameters.theta: theta must stay in [0, 1]");
  expect_error_at(9, "  theta: {dist: beta, alpha: 2, beta: 2, high: 2}", "{",
                  "parameters.theta: theta must stay in [0, 1]");
  expect_error_at(9, "  theta: {dist: normal, mean: 0.5, sd: 0.1}", "{",
                  "parameters.theta: a normal distribution is unbounded, but theta must stay in "
                  "[0, 1]; use a bounded one: uniform, triangular, truncnormal or beta");
  expect_error_at(9, "  theta: {dist: lognormal, meanlog: -1, sdlog: 0.1}", "{",
                  "parameters.theta: a lognormal distribution is unbounded");
  for (const char* ok : {"  theta: 0", "  theta: 1", "  theta: {dist: uniform, low: 0, high: 1}",
                         "  theta: {dist: truncnormal, mean: 0.5, sd: 1, low: 0, high: 1}",
                         "  theta: {dist: beta, alpha: 2, beta: 2, low: 0.25, high: 0.75}"}) {
    EXPECT_NO_THROW(parse_config_text(with_line(9, ok), "x")) << ok;
  }
  // The same distributions are fine for A2p itself, which is not a share.
  EXPECT_NO_THROW(
      parse_config_text(with_line(9, "  A2p: {dist: normal, mean: 1.5, sd: 0.1}"), "x"));
}

TEST(ConfigErrors, YamlSyntaxErrorShowsYamlCppPosition) {
  const std::string bad = with_line(4, "  a: {dist: uniform, low: 8, high: 12");
  YAML::Mark mark;
  try {
    YAML::Load(bad);
    FAIL() << "yaml-cpp accepted it";
  } catch (const YAML::ParserException& e) {
    mark = e.mark;
  }
  const std::string msg = error_of(bad);
  const std::string where =
      "x.yaml:" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
  EXPECT_EQ(msg.rfind(where + "YAML syntax error: ", 0), 0u) << msg;
  EXPECT_HAS(error_of("draws: 1\n  seed: 2\n"), "x.yaml:2:");
}

// yaml-cpp 0.7's LoadAll loops forever, allocating, on these (found by scripts/fuzz.sh);
// a regression hangs this test until ctest's timeout.
TEST(ConfigErrors, TextThatStallsYamlCppIsASyntaxError) {
  EXPECT_HAS(error_of("&xnulnull, hi"), "x.yaml:1:10: YAML syntax error: unexpected ','");
  EXPECT_HAS(error_of("!a,b"), "x.yaml:1:3: YAML syntax error: unexpected ','");
  EXPECT_HAS(error_of(","), "x.yaml:1:1: YAML syntax error: unexpected ','");
}

TEST(ConfigErrors, EmptyOrNonMapFile) {
  EXPECT_HAS(error_of(""), "x.yaml: the config is empty");
  EXPECT_HAS(error_of("# only a comment\n"), "x.yaml: the config is empty");
  EXPECT_HAS(error_of("~\n"), "x.yaml: the config is empty");
  EXPECT_HAS(error_of("- draws\n- 5\n"), "x.yaml:1:1: the config must be a map");
  EXPECT_HAS(error_of("just words\n"), "x.yaml:1:1: the config must be a map of settings");
  EXPECT_HAS(error_of(text_of(kBase) + "---\ndraws: 5\n"),
             "x.yaml:12:1: more than one YAML");  // the '---'
}

TEST(ConfigErrors, DuplicateAndNonScalarKeys) {
  auto lines = kBase;
  lines.insert(lines.begin() + 5, "  b: 2");
  EXPECT_HAS(error_of(text_of(lines)),
             "x.yaml:6:3: parameters: duplicate key 'b' (first given at line 5, column 3)");
  EXPECT_HAS(error_of(text_of(kBase) + "draws: 7\n"),
             "x.yaml:12:1: duplicate key 'draws' (first given at line 1, column 1)");
  EXPECT_HAS(error_of(text_of(kBase) + "[x]: 1\n"), "x.yaml:12:1: keys must be plain names");
}

TEST(ConfigErrors, FileProblemsNameThePath) {
  const std::string missing = "/nonexistent-dir/none.yaml";
  try {
    load_config(missing);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()),
               missing + ": cannot open config file: " + std::strerror(ENOENT));
  }
  const fs::path dir = fs::temp_directory_path();
  try {
    load_config(dir.string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()),
               dir.string() + ": cannot read config file: " + std::strerror(EISDIR));
  }
  // Unreadable file (root reads anything, so only checked for other users).
  if (geteuid() != 0) {
    const fs::path f = dir / ("spillmc_unreadable_" + std::to_string(getpid()) + ".yaml");
    std::ofstream(f) << text_of(kBase);
    fs::permissions(f, fs::perms::none);
    try {
      load_config(f.string());
      ADD_FAILURE();
    } catch (const InputError& e) {
      EXPECT_HAS(std::string(e.what()), std::strerror(EACCES));
    }
    fs::remove(f);
  }
}

TEST(ConfigErrors, LoadConfigUsesThePathInMessages) {
  const fs::path f =
      fs::temp_directory_path() / ("spillmc_cfg_" + std::to_string(getpid()) + ".yaml");
  std::ofstream(f) << with_line(6, "  c: {dist: normal, mean: 2, sd: -1}");
  try {
    load_config(f.string());
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), f.string() + ":6:34: parameters.c.sd: must be > 0 (got -1)");
  }
  const Config ok = load_config(f.string(), {{"parameters.c.sd", "1"}});
  EXPECT_EQ(ok.source, f.string());
  EXPECT_EQ(ok.dist[S_c].p1, 1);
  fs::remove(f);
}

// ---- overrides ------------------------------------------------------------------------

TEST(Overrides, ParseOverride) {
  const Override o = parse_override("output.path=a=b.h5");
  EXPECT_EQ(o.key, "output.path");
  EXPECT_EQ(o.value, "a=b.h5");
  EXPECT_THROW(parse_override("draws"), InputError);
  EXPECT_THROW(parse_override("=5"), InputError);
  EXPECT_THROW(parse_override("parameters..a=5"), InputError);
  EXPECT_THROW(parse_override("draws.=5"), InputError);
  try {
    parse_override("draws");
  } catch (const InputError& e) {
    EXPECT_HAS(std::string(e.what()), "expected KEY=VALUE");
  }
}

TEST(Overrides, SetValuesAndCreateMaps) {
  const std::string base = text_of(kBase);
  const Config cfg =
      parse_config_text(base, "x.yaml",
                        {parse_override("draws=1e3"), parse_override("parameters.a.low=9"),
                         parse_override("parameters.b={dist: uniform, low: 1, high: 2}"),
                         parse_override("parameters.theta=0.25"), parse_override("model=paper"),
                         parse_override("output.path=other.h5"), parse_override("draws=7")});
  EXPECT_EQ(cfg.draws, 7u);  // later overrides win
  EXPECT_EQ(cfg.dist[S_a].p0, 9);
  EXPECT_EQ(cfg.dist[S_a].p1, 12);
  EXPECT_EQ(cfg.dist[S_b].kind, DistKind::uniform);
  EXPECT_EQ(cfg.dist[S_b].p1, 2);
  EXPECT_EQ(cfg.dist[S_A2p].kind, DistKind::fixed);
  EXPECT_EQ(cfg.dist[S_A2p].p0, 0.25);
  EXPECT_EQ(cfg.model, ModelMode::paper);
  EXPECT_EQ(cfg.output_path, "other.h5");

  // Missing maps are created: no output section, no parameters at all.
  const Config made = parse_config_text("draws: 5\n", "x.yaml",
                                        {{"parameters.a", "10"},
                                         {"parameters.b", "1"},
                                         {"parameters.c", "2"},
                                         {"parameters.A1", "1"},
                                         {"parameters.A2_gap", "1"},
                                         {"parameters.theta", "0.5"},
                                         {"output.path", "o.h5"}});
  EXPECT_EQ(made.output_path, "o.h5");
  EXPECT_TRUE(made.a2_is_gap);
  EXPECT_TRUE(made.a2p_is_theta);
  // An empty section in the file is filled too.
  EXPECT_EQ(parse_config_text(with_line(11, ""), "x", {{"output.path", "p.h5"}}).output_path,
            "p.h5");
}

TEST(Overrides, ErrorsNameTheOverride) {
  const std::string base = text_of(kBase);
  EXPECT_EQ(error_of(base, {{"parameters.c.sd", "-1"}}),
            "--set parameters.c.sd: must be > 0 (got -1)");
  EXPECT_EQ(error_of(base, {{"draws", "0"}}), "--set draws: must be an integer >= 1 (got 0)");
  EXPECT_EQ(error_of(base, {{"drwas", "5"}}),
            "--set drwas: unknown key 'drwas' (did you mean 'draws'?)");
  EXPECT_EQ(error_of(base, {{"parameters.a.hgih", "5"}}),
            "--set parameters.a.hgih: parameters.a: unknown key 'hgih' (did you mean 'high'?)");
  EXPECT_EQ(error_of(base, {{"parameters.a", "{dist: uniform, low: abc, high: 2}"}}),
            "--set parameters.a: parameters.a.low: expected a number, got 'abc'");
  EXPECT_EQ(error_of(base, {{"output.path", "[1]"}}),
            "--set output.path: expected a file path, got a sequence");
  EXPECT_EQ(error_of(base, {{"model", "fast"}}),
            "--set model: must be one of constrained, paper (got 'fast')");
  // A value from the file judged together with an overridden one: the file
  // position, and the override that changed it.
  EXPECT_EQ(error_of(base, {{"parameters.a.low", "20"}}),
            "x.yaml:4:6: parameters.a: low (20) must be < high (12) (after --set "
            "parameters.a.low=20)");
  // A map created by an override has no file position.
  EXPECT_EQ(error_of("draws: 5\n", {{"parameters.a", "1"}}),
            "--set parameters.a: parameters: missing 'b', 'c', 'A1', 'A2' or 'A2_gap', 'A2p' or "
            "'theta'");
}

TEST(Overrides, AlternativesAndNullDeletes) {
  const std::string base = text_of(kBase);
  const std::string both = error_of(base, {{"parameters.A2", "3"}});
  EXPECT_EQ(both.rfind("--set parameters.A2: parameters: give exactly one of 'A2' and 'A2_gap', "
                       "not both",
                       0),
            0u)
      << both;
  EXPECT_HAS(both, "add --set parameters.A2_gap=~ to drop the other");

  const Config swapped =
      parse_config_text(base, "x", {{"parameters.A2", "3"}, {"parameters.A2_gap", "~"}});
  EXPECT_FALSE(swapped.a2_is_gap);
  EXPECT_EQ(swapped.dist[S_A2].p0, 3);
  const Config swapped2 =
      parse_config_text(base, "x", {{"parameters.theta", "null"}, {"parameters.A2p", "1.5"}});
  EXPECT_FALSE(swapped2.a2p_is_theta);

  // Deleting a required key says so, and names the override that did it.
  EXPECT_EQ(error_of(base, {{"parameters.A1", "~"}}),
            "x.yaml:4:3: parameters: missing 'A1' (after --set parameters.A1=~)");
  // Deleting a key with a default restores the default; deleting nothing is fine.
  EXPECT_EQ(parse_config_text(base, "x", {{"draws", "~"}}).draws, Config{}.draws);
  EXPECT_EQ(parse_config_text(base, "x", {{"output", "~"}}).output_path, "spillmc.h5");
  EXPECT_NO_THROW(parse_config_text(base, "x", {{"nothing.here", "~"}}));
  // An override then its deletion leaves no trace.
  EXPECT_EQ(parse_config_text(base, "x", {{"threads", "2"}, {"threads", "~"}}).threads, 0);
}

TEST(Overrides, AliasesAreNotEditedThroughEachOther) {
  const std::string text =
      "parameters:\n  a: &u {dist: uniform, low: 8, high: 12}\n  b: 1\n  c: *u\n  A1: 1\n"
      "  A2: 2\n  A2p: 1.5\n";
  const Config plain = parse_config_text(text, "x");
  EXPECT_EQ(plain.dist[S_c].kind, DistKind::uniform);
  const Config field = parse_config_text(text, "x", {{"parameters.c.low", "9"}});
  EXPECT_EQ(field.dist[S_a].p0, 8);
  EXPECT_EQ(field.dist[S_c].p0, 9);
  const Config whole = parse_config_text(text, "x", {{"parameters.c", "5"}});
  EXPECT_EQ(whole.dist[S_a].kind, DistKind::uniform);
  EXPECT_EQ(whole.dist[S_c].kind, DistKind::fixed);
  // A node made to contain itself is refused, not followed forever.
  EXPECT_HAS(error_of("draws: &x [*x]\n"), "x.yaml:1:8: draws: nested too deeply");
}

TEST(Overrides, BadOverrides) {
  const std::string base = text_of(kBase);
  EXPECT_HAS(error_of(base, {{"parameters.b.low", "1"}}),
             "--set parameters.b.low: cannot set a key inside 'parameters.b': it is '1' (from "
             "x.yaml:5:6), not a map");
  EXPECT_HAS(error_of(base, {{"draws", ""}}), "--set draws: empty value (write '~' to delete");
  EXPECT_HAS(error_of(base, {{"parameters.a", "{dist: uniform"}}),
             "--set parameters.a: cannot parse value '{dist: uniform' as YAML");
  EXPECT_HAS(error_of(base, {{"a..b", "1"}}), "--set a..b: bad key");
  // Nothing after the value is dropped; nor does text that stalls yaml-cpp hang.
  EXPECT_HAS(error_of(base, {{"output.path", "\"a.h5\" b"}}),
             "--set output.path: cannot parse value '\"a.h5\" b' as YAML (column 8): more follows");
  EXPECT_HAS(error_of(base, {{"parameters.a", "{dist: fixed, value: 1}, x"}}),
             "(column 24): unexpected ','");
  EXPECT_HAS(error_of(base, {{"seed", "&a, b"}}), "--set seed: cannot parse value '&a, b'");
}

// ---- effective YAML -----------------------------------------------------------------

TEST(EffectiveYaml, SpellsOutEveryKey) {
  const Config cfg =
      parse_config_text("parameters: {a: 10, b: 1, c: 2, A1: 1, A2: 2, A2p: 1.5}\n", "x");
  const std::string y = effective_yaml(cfg);
  for (const char* key :
       {"draws: 1000000\n", "seed: 1\n", "model: constrained\n", "backend: auto\n", "threads: 0\n",
        "parameters:\n", "  a: {dist: fixed, value: 10}\n", "  A2: {dist: fixed, value: 2}\n",
        "  A2p: {dist: fixed, value: 1.5}\n", "output:\n", "  path: \"spillmc.h5\"\n"}) {
    EXPECT_HAS(y, key);
  }
  const std::string base = effective_yaml(parse_config_text(text_of(kBase), "x"));
  EXPECT_HAS(base, "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}\n");
  EXPECT_HAS(base, "  theta: {dist: beta, alpha: 2, beta: 2, low: 0, high: 1}\n");
}

TEST(EffectiveYaml, RoundTripsAwkwardValues) {
  Config cfg = parse_config_text(text_of(kBase), "x");
  cfg.draws = std::uint64_t{1} << 47;    // the most a run may have
  cfg.histograms.explicitly_set = true;  // whose per-segment counters would not fit
  cfg.histograms.enabled = false;
  cfg.seed = UINT64_MAX - 1;
  cfg.threads = 12;
  cfg.model = ModelMode::paper;
  cfg.backend = BackendChoice::cuda;
  cfg.dist[S_a] = Dist{DistKind::uniform, 0.1, 1.0 / 3.0, 0, 0};
  cfg.dist[S_b] = Dist{DistKind::fixed, 1e-300, 0, 0, 0};
  cfg.dist[S_c] =
      Dist{DistKind::truncnormal, -0.0, 5e-324, -8.9884656743115785e307, 8.9884656743115785e307};
  cfg.dist[S_A1] = Dist{DistKind::normal, 123456789.123456789, 2.2250738585072014e-308, 0, 0};
  cfg.dist[S_A2p] = Dist{DistKind::beta, 0.7, 1e5, 0.125, 0.875};
  cfg.output_path = "dir with space/quote\"back\\slash:#x ñ.h5";
  expect_round_trip(cfg);
  cfg.a2_is_gap = false;
  cfg.a2p_is_theta = false;
  expect_round_trip(cfg);
}

TEST(EffectiveYaml, RoundTripsSensitivity) {
  const Config cfg = parse_config_text(
      text_of(kBase) +
          "sensitivity: {outputs: [pi12, upgrade_gain_positive, a], base_draws: 1e3}\n",
      "x");
  expect_round_trip(cfg);
  const Config again = parse_config_text(effective_yaml(cfg), "effective");
  EXPECT_TRUE(again.sensitivity.enabled);
  EXPECT_EQ(again.sensitivity.outputs, cfg.sensitivity.outputs);
  EXPECT_EQ(again.sensitivity.base_draws, 1000u);
}

TEST(EffectiveYaml, RoundTripsEveryBundledConfig) {
  const auto files = bundled_configs();
  ASSERT_GE(files.size(), 3u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    expect_round_trip(load_config(f.string()));
  }
}

// Upgrade paths (docs/paths.md): every value and the defaulted theta_failure
// read back the same; names that YAML would read as null or a boolean stay names.
TEST(EffectiveYaml, RoundTripsPaths) {
  Config cfg = parse_config_text(
      text_of(kBase) +
          "paths:\n"
          "  - {name: 'null', cost: -0.5, p_success: {dist: beta, alpha: 8, beta: 2},\n"
          "     theta_success: {dist: triangular, low: 0.2, mode: 0.3, high: 0.45}}\n"
          "  - {name: 'true', cost: {dist: normal, mean: 1, sd: 0.25}, p_success: 1,\n"
          "     theta_success: 1, theta_failure: {dist: uniform, low: 0, high: 0.1}}\n",
      "x");
  cfg.paths[0].cost = Dist{DistKind::lognormal, 1.0 / 3.0, 1e-300, 0, 0};
  cfg.paths[1].p_success = Dist{DistKind::truncnormal, -0.0, 5e-324, -0.0, 0.875};
  expect_round_trip(cfg);
  const Config back = parse_config_text(effective_yaml(cfg), "effective");
  ASSERT_EQ(back.paths.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    const PathConfig &x = cfg.paths[k], &y = back.paths[k];
    EXPECT_EQ(x.name, y.name);
    for (const auto& [dx, dy] : {std::pair{x.cost, y.cost}, std::pair{x.p_success, y.p_success},
                                 std::pair{x.theta_success, y.theta_success},
                                 std::pair{x.theta_failure, y.theta_failure}}) {
      EXPECT_EQ(dx.kind, dy.kind) << "path " << k;
      EXPECT_TRUE(same_double(dx.p0, dy.p0) && same_double(dx.p1, dy.p1) &&
                  same_double(dx.p2, dy.p2) && same_double(dx.p3, dy.p3))
          << "path " << k;
    }
  }
  EXPECT_EQ(back.paths[0].name, "null");
  EXPECT_EQ(back.paths[0].theta_failure.kind, DistKind::fixed);  // the default, spelt out
  EXPECT_EQ(back.paths[0].theta_failure.p0, 0.0);
}

// ---- bundled configs and docs ------------------------------------------------------------

TEST(BundledConfigs, AllLoadAndSayWhatTheyClaim) {
  const std::string dir = std::string(SPILLMC_SOURCE_DIR) + "/configs/";
  const Config base = load_config(dir + "baseline.yaml");
  EXPECT_EQ(base.output_path, "results/baseline.h5");
  EXPECT_EQ(base.model, ModelMode::constrained);
  EXPECT_TRUE(base.a2_is_gap);
  EXPECT_TRUE(base.a2p_is_theta);
  EXPECT_LE(base.draws, 10000000u);

  const Config paper = load_config(dir + "paper_mode.yaml");
  EXPECT_EQ(paper.model, ModelMode::paper);
  EXPECT_EQ(paper.seed, base.seed);  // same draws as the baseline, for comparison
  for (int s = 0; s < kNumSlots; ++s) EXPECT_EQ(paper.dist[s].kind, base.dist[s].kind);

  const Config wide = load_config(dir + "wide_regimes.yaml");
  EXPECT_EQ(wide.dist[S_b].kind, DistKind::normal);  // b <= 0 must be possible
  EXPECT_LT(wide.dist[S_b].p0, 3 * wide.dist[S_b].p1);

  const Config ex = load_config(dir + "worked_example.yaml");
  const double want[kNumSlots] = {10, 1, 2, 1, 2, 1.5};
  for (int s = 0; s < kNumSlots; ++s) {
    EXPECT_EQ(ex.dist[s].kind, DistKind::fixed);
    EXPECT_EQ(ex.dist[s].p0, want[s]);
  }
  EXPECT_FALSE(ex.a2_is_gap);
  EXPECT_FALSE(ex.a2p_is_theta);

  // Quick runs use --set draws=...: each file takes it.
  for (const auto& f : bundled_configs()) {
    EXPECT_EQ(load_config(f.string(), {{"draws", "1e4"}}).draws, 10000u) << f;
  }
}

// Every ```yaml block in docs/config.md is a complete config that validates
// (fragments there use plain ``` fences), so the reference cannot rot.
TEST(BundledConfigs, DocExamplesValidate) {
  std::ifstream in(std::string(SPILLMC_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in) << "docs/config.md missing";
  std::string line, block;
  bool inside = false;
  int blocks = 0, lineno = 0, start = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!inside && line == "```yaml") {
      inside = true, block.clear(), start = lineno;
    } else if (inside && line == "```") {
      inside = false, ++blocks;
      EXPECT_NO_THROW(
          parse_config_text(block, "docs/config.md block at line " + std::to_string(start)))
          << block;
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_GE(blocks, 1);
}

// ---- limits (docs/config.md, "Limits") ---------------------------------------------------

TEST(Limits, ThreadsAtMost1024) {
  EXPECT_EQ(parse_config_text(with_line(2, "threads: 1024"), "x").threads, 1024);
  expect_error_at(2, "threads: 1025", "1025", "threads: too large (got 1025; at most 1024)");
  expect_error_at(2, "threads: 2147483647", "2147483647",
                  "threads: too large (got 2147483647; at most 1024)");
  const std::string base = text_of(kBase);
  EXPECT_EQ(error_of(base, {Override("threads", "1e9", "--threads")}),
            "--threads: too large (got 1e9; at most 1024)");
  EXPECT_EQ(error_of(base, {{"threads", "100000"}}),
            "--set threads: too large (got 100000; at most 1024)");
}

TEST(Limits, TruncnormalFarInATailIsRefused) {
  // The audit's cases: sampled as uniform before, as Phi underflows there.
  expect_error_at(6, "  c: {dist: truncnormal, mean: 0, sd: 1, low: 40, high: 41}", "{",
                  "parameters.c: the interval [40, 41] lies 40 sd above the mean; truncnormal "
                  "samples intervals within 37 sd of the mean (the normal CDF underflows "
                  "beyond)");
  expect_error_at(6, "  c: {dist: truncnormal, mean: 0, sd: 1, low: -1e6, high: -50}", "{",
                  "parameters.c: the interval [-1000000, -50] lies 50 sd below the mean");
  expect_error_at(6, "  c: {dist: truncnormal, mean: 0, sd: 1, low: 40, high: 1e12}", "{",
                  "parameters.c: the interval [40, 1000000000000] lies 40 sd above the mean");
  expect_error_at(6, "  c: {dist: truncnormal, mean: 2, sd: 0.5, low: 21, high: 22}", "{",
                  "parameters.c: the interval [21, 22] lies 38 sd above the mean");
  // Just beyond the limit: the distance is not rounded to 37.
  expect_error_at(6, "  c: {dist: truncnormal, mean: 0, sd: 1, low: 37.000001, high: 38}", "{",
                  "parameters.c: the interval [37.000001, 38] lies 37.000001 sd above");
  // At the limit, within it, or around the mean: accepted, and the sampler's
  // Phi at the interval's reflected upper end is a normal double.
  for (const char* ok : {"  c: {dist: truncnormal, mean: 0, sd: 1, low: 37, high: 38}",
                         "  c: {dist: truncnormal, mean: 0, sd: 1, low: -38, high: -37}",
                         "  c: {dist: truncnormal, mean: 1, sd: 2, low: -73, high: -71}",
                         "  c: {dist: truncnormal, mean: 0, sd: 1, low: -1e300, high: 1e300}",
                         "  c: {dist: truncnormal, mean: 5, sd: 1e-300, low: 4, high: 6}"}) {
    SCOPED_TRACE(ok);
    const Config cfg = parse_config_text(with_line(6, ok), "x");
    const Dist d = prepared(cfg.dist[S_c]);
    EXPECT_GE(d.d1, DBL_MIN);
    EXPECT_LT(d.d0, d.d1);
  }
  // theta, p_success and path costs go through the same check.
  expect_error_at(9, "  theta: {dist: truncnormal, mean: 0.5, sd: 0.001, low: 0.9, high: 1}", "{",
                  "parameters.theta: the interval [0.9, 1] lies 400 sd above the mean");
  EXPECT_HAS(
      error_of(text_of(kBase) +
               "paths:\n  - {name: p, cost: 0.1, theta_success: 0.5,\n"
               "     p_success: {dist: truncnormal, mean: 0, sd: 0.01, low: 0.5, high: 1}}\n"),
      "x.yaml:14:17: paths.0.p_success: the interval [0.5, 1] lies 50 sd above the mean");
  EXPECT_HAS(
      error_of(text_of(kBase),
               {{"parameters.a", "{dist: truncnormal, mean: 0, sd: 1, low: -41, high: -40}"}}),
      "--set parameters.a: the interval [-41, -40] lies 40 sd below the mean");
}

TEST(Overrides, OnlyTheNullSpellingsDelete) {
  const std::string base = text_of(kBase);
  for (const char* v : {"~", "null", "Null", "NULL", " ~ "}) {
    EXPECT_EQ(parse_config_text(base, "x", {{"draws", v}}).draws, Config{}.draws) << v;
  }
  // Text YAML reads as null but that is no null spelling: as empty as nothing.
  for (const char* v : {"#5", " # 5", "---", "...", "!!null", "~ # five", "%YAML 1.2"}) {
    EXPECT_HAS(error_of(base, {{"draws", v}}), "--set draws: empty value") << v;
  }
  EXPECT_EQ(error_of(base, {{"output.path", "#out.h5"}}),
            "--set output.path: empty value ('#out.h5' reads as no value in YAML; only '~', "
            "'null', 'Null' or 'NULL' deletes the key, and '\"\"' is an empty string)");
  // A command-line option sets its key: it never deletes it.
  EXPECT_EQ(error_of(base, {Override("draws", "null", "--draws")}),
            "--draws: expected a value, got 'null', which YAML reads as null (an option cannot "
            "remove a key; --set can)");
  EXPECT_HAS(error_of(base, {Override("seed", "~", "--seed")}), "--seed: expected a value");
  EXPECT_HAS(error_of(base, {Override("model", "#10", "--model")}), "--model: expected a value");
  EXPECT_EQ(error_of(base, {Override("threads", " ", "--threads")}), "--threads: empty value");
}

TEST(Overrides, ListElementsNameTheOverride) {
  const std::string base = text_of(kBase);
  EXPECT_EQ(error_of(base, {{"conditions", "[nope]"}}),
            "--set conditions: conditions[0]: unknown event 'nope'");
  EXPECT_EQ(error_of(base, {{"conditions", "[leader_gains, leader_gains]"}}),
            "--set conditions: conditions[1]: event 'leader_gains' is listed twice");
  EXPECT_EQ(error_of(base, {{"histograms.fields", "[pi12, nope]"}}),
            "--set histograms.fields: histograms.fields[1]: unknown field 'nope'");
  EXPECT_HAS(error_of(base, {{"sensitivity.outputs", "[zz]"}, {"sensitivity.base_draws", "100"}}),
             "--set sensitivity.outputs: sensitivity.outputs[0]: unknown output 'zz'");
  EXPECT_HAS(error_of(base, {{"output.fields", "[zz]"}, {"output.draws", "all"}}),
             "--set output.fields: output.fields[0]: unknown field 'zz'");
  EXPECT_HAS(
      error_of(base, {{"sweep.axes", "[{param: zz, values: [1]}]"}, {"sweep.draws_per_cell", "5"}}),
      "--set sweep.axes: sweep.axes[0].param: must be one of");
  // The same list in the file keeps its file position.
  EXPECT_HAS(error_of(base + "conditions: [leader_gains, nope]\n"),
             "x.yaml:12:28: conditions[1]: unknown event 'nope'");
}

TEST(Overrides, AnAliasedMapKeepsItsFilePosition) {
  const std::string text =
      "draws: 5\nparameters:\n  a: &u {dist: uniform, low: 8, high: 12}\n  b: 1\n  c: *u\n"
      "  A1: 1\n  A2: 2\n  A2p: 1.5\n";
  // The copy the override edits has no position of its own (yaml-cpp says 1:1).
  EXPECT_EQ(error_of(text, {{"parameters.c.low", "13"}}),
            "x.yaml:3:6: parameters.c: low (13) must be < high (12) (after --set "
            "parameters.c.low=13)");
  // (At the value of the key: the copy cannot tell a key's position from its value's.)
  EXPECT_HAS(error_of(text, {{"parameters.c.dist", "normal"}}),
             "x.yaml:3:30: parameters.c: unknown key 'low' for a normal distribution");
  EXPECT_EQ(error_of(text, {{"parameters.c.sd", "1"}}),
            "--set parameters.c.sd: parameters.c: unknown key 'sd' for a uniform distribution (it "
            "takes low, high)");
  // Replaced whole, then set again below: a map of the override's, no file position.
  EXPECT_EQ(
      error_of(text, {{"parameters.c.low", "9"}, {"parameters.c", "~"}, {"parameters.c.low", "9"}}),
      "--set parameters.c.low: parameters.c: missing 'dist' (one of fixed, uniform, normal, "
      "truncnormal, lognormal, triangular, beta)");
  // An aliased sweep axis list: its elements' positions too.
  const std::string sweep = text_of(kBase) +
                            "sweep: &s {axes: [{param: a, values: [1, 2]}], draws_per_cell: 5}\n"
                            "x_unused: *s\n";
  EXPECT_HAS(error_of(sweep, {{"sweep.draws_per_cell", "6"}}), "x.yaml:13:1: unknown key");
}

// Aliases of aliases: 10^9 nodes when expanded, a few hundred bytes of text.
std::string laughs(int levels) {
  std::string t = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < levels; ++i) {
    t += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) t += (j ? ", *l" : "*l") + std::to_string(i - 1);
    t += "]\n";
  }
  return t;
}

TEST(ConfigErrors, AliasesOfAliasesAreWalkedOnce) {
  // Each of these took longer than the age of the universe (10^9 nodes) before.
  EXPECT_HAS(error_of(laughs(10) + text_of(kBase)), "x.yaml:1:1: unknown key 'l0'");
  EXPECT_HAS(error_of(text_of(kBase) + laughs(10)), "x.yaml:12:1: unknown key 'l0'");
  // An override into an aliased map counts the map's uses over the whole tree.
  const std::string text =
      "parameters:\n  a: &u {dist: uniform, low: 8, high: 12}\n  b: 1\n  c: *u\n  A1: 1\n"
      "  A2: 2\n  A2p: 1.5\n" +
      laughs(10);
  EXPECT_HAS(error_of(text, {{"parameters.c.low", "9"}}), "x.yaml:8:1: unknown key 'l0'");
  // Inside a key that is read: refused at its first element.
  EXPECT_HAS(error_of(laughs(10) + text_of(kBase) + "conditions: *l9\n"), "unknown key 'l0'");
  // A node that contains itself is still refused.
  EXPECT_HAS(error_of("draws: &x [*x]\n"), "x.yaml:1:8: draws: nested too deeply");
  EXPECT_HAS(error_of("parameters: &p {a: *p}\n"), "parameters.a: nested too deeply");
}

TEST(ConfigErrors, ConfigFileSizeIsCapped) {
  const fs::path f =
      fs::temp_directory_path() / ("spillmc_big_" + std::to_string(getpid()) + ".yaml");
  std::string text = text_of(kBase);
  const std::size_t cap = std::size_t{1} << 20;
  text += "#" + std::string(cap - text.size() - 2, ' ') + "\n";
  ASSERT_EQ(text.size(), cap);
  std::ofstream(f, std::ios::binary) << text;
  EXPECT_EQ(load_config(f.string()).draws, 100u);  // exactly 1 MiB: fine
  std::ofstream(f, std::ios::binary | std::ios::app) << "\n";
  try {
    load_config(f.string());
    ADD_FAILURE() << "a file of 1 MiB + 1 byte was read";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              f.string() + ": config file too large (more than 1048576 bytes, 1 MiB)");
    EXPECT_EQ(e.exit_code(), kExitBadInput);
  }
  fs::remove(f);
  // A device that never ends is read only up to the limit.
  if (fs::exists("/dev/zero")) {
    try {
      load_config("/dev/zero");
      ADD_FAILURE() << "/dev/zero was read";
    } catch (const InputError& e) {
      EXPECT_HAS(std::string(e.what()), "/dev/zero: config file too large");
    }
  }
}

TEST(ConfigErrors, FilePathsWithControlCharacters) {
  expect_error_at(11, "  path: \"out/a\\0b.h5\"", "\"",
                  "output.path: must not contain control characters such as NUL (got "
                  "\"out/a\\x00b.h5\")");
  expect_error_at(11, "  path: \"out/a\\nb.h5\"", "\"",
                  "output.path: must not contain control characters such as \\x0a");
  expect_error_at(11, "  path: \"out/a\\tb.h5\"", "\"",
                  "output.path: must not contain control characters such as \\x09");
  expect_error_at(11, "  path: \"out/\\x7f.h5\"", "\"",
                  "output.path: must not contain control characters such as \\x7f");
  const std::string base = text_of(kBase);
  EXPECT_EQ(error_of(base, {Override("output.path", "\"a\\nb.h5\"", "-o")}),
            "-o: output.path: must not contain control characters such as \\x0a (got "
            "\"a\\x0ab.h5\")");
  EXPECT_HAS(error_of(base, {{"checkpoint", "{every: 60, path: \"c\\0.ckpt\"}"}}),
             "--set checkpoint: checkpoint.path: must not contain control characters such as NUL");
  // Other odd characters are fine.
  EXPECT_EQ(parse_config_text(with_line(11, "  path: \"a b/#\\u00f1\\u2028.h5\""), "x").output_path,
            "a b/#\xc3\xb1\xe2\x80\xa8.h5");
}

// load_config on `text` in a file x.yaml (messages name it so): the memory
// limit is checked there, for `run` and `validate`, not for stored configs.
std::string load_text_error(const std::string& text, const std::vector<Override>& ov = {}) {
  const fs::path dir = fs::temp_directory_path() / ("spillmc_mem_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "x.yaml") << text;
  std::string msg;
  try {
    load_config((dir / "x.yaml").string(), ov);
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    msg = e.what();
  }
  fs::remove_all(dir);
  const std::string prefix = (dir / "").string();
  return msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg;
}

void expect_loads(const std::string& text, const std::vector<Override>& ov = {}) {
  const fs::path f =
      fs::temp_directory_path() / ("spillmc_mem_ok_" + std::to_string(getpid()) + ".yaml");
  std::ofstream(f) << text;
  EXPECT_NO_THROW(load_config(f.string(), ov)) << text;
  fs::remove(f);
}

TEST(Limits, DrawsKeepTheirStateWithinFourGiB) {
  const std::string no_hist = "histograms: false\n";
  // 2^47 draws: 2^21 segments of 2^26, one Tally each, within 4 GiB.
  EXPECT_EQ(parse_config_text(with_line(1, "draws: 140737488355328") + no_hist, "x").draws,
            std::uint64_t{1} << 47);
  EXPECT_HAS(error_of(with_line(1, "draws: 140737488355329") + no_hist),
             "x.yaml:1:8: draws: too large (got 140737488355329; at most 140737488355328)");
  EXPECT_HAS(error_of(with_line(1, "draws: 18446744073709551615") + no_hist),
             "draws: too large (got 18446744073709551615; at most 140737488355328)");
  EXPECT_EQ(error_of(text_of(kBase) + no_hist, {Override("draws", "2e15", "--draws")}),
            "--draws: too large (got 2e15; at most 140737488355328)");
  // Histogram counts are kept once for the run, not per segment: the default
  // histograms (19 fields x 1002 counters) allow as many draws as none.
  expect_loads(with_line(1, "draws: 140737488355328"));
  // Conditions are kept per segment; the histograms' counts are added once.
  const std::string two = "conditions: [leader_gains, not_follower_active]\n";
  const std::string msg = load_text_error(with_line(1, "draws: 1e14") + two);
  EXPECT_EQ(msg.rfind("x.yaml:1:8: draws: 100000000000000 draws would keep about 5.7 GiB in "
                      "memory, more than the 4 GiB a run may: each segment of 2^26 draws holds "
                      "4104 bytes (its Tally (1368 bytes) and 2 conditions) until the result is "
                      "written, besides 152304 bytes of histogram counts (19 fields x 1000 bins); "
                      "at most 70229023522816 draws fit with this config",
                      0),
            0u)
      << msg;
  expect_loads(with_line(1, "draws: 70229023522816") + two);
  EXPECT_HAS(load_text_error(with_line(1, "draws: 70229023522817") + two),
             "at most 70229023522816 draws fit");
  EXPECT_EQ(load_text_error(text_of(kBase) + two, {Override("draws", "1e14", "--draws")})
                .rfind("--draws: 100000000000000 draws would keep about 5.7 GiB", 0),
            0u);
  // Conditions and paths count too.
  const std::string cond = load_text_error(with_line(1, "draws: 140737488355328") + no_hist +
                                           "conditions: [leader_gains, not_follower_active]\n");
  EXPECT_HAS(cond, "x.yaml:1:8: draws: 140737488355328 draws would keep about 8.02 GiB");
  EXPECT_HAS(cond, "holds 4104 bytes (its Tally (1368 bytes) and 2 conditions)");
  // A config stored in a result file is read back whatever its run needed.
  EXPECT_EQ(parse_config_text(with_line(1, "draws: 1e14") + two, "x").draws, 100000000000000u);
  // A sweep: cells x draws_per_cell at most 2^47 as well.
  const std::string sweep =
      text_of(kBase) + "sweep: {axes: [{param: a, linspace: [8, 12, 4]}], draws_per_cell: 1}\n";
  EXPECT_EQ(error_of(sweep, {{"sweep.draws_per_cell", "140737488355328"}}),
            "x.yaml:12:8: sweep: 4 cells x 140737488355328 draws_per_cell is 562949953421312 "
            "draws, more than the 140737488355328 (2^47) a run may have (after --set "
            "sweep.draws_per_cell=140737488355328)");
  EXPECT_HAS(error_of(sweep, {{"sweep.draws_per_cell", "140737488355329"}}),
             "--set sweep.draws_per_cell: too large (got 140737488355329; at most "
             "140737488355328)");
}

TEST(Limits, SweepMemoryIsEstimatedAndCapped) {
  const std::string base = text_of(kBase);
  auto sweep = [](int n, const char* dpc) {
    return "{axes: [{param: a, linspace: [8, 12, " + std::to_string(n) +
           "]}, {param: c, linspace: [1, 3, " + std::to_string(n) + "]}], draws_per_cell: " + dpc +
           "}";
  };
  // 512 x 512 cells: about 2.4 GB measured; 4096 x 4096: about 150 GB.
  expect_loads(base, {{"sweep", sweep(512, "1")}});
  EXPECT_EQ(load_text_error(base, {{"sweep", sweep(4096, "1")}}),
            "--set sweep: 16777216 cells x 1 draws_per_cell would keep about 149 GiB in memory, "
            "more than the 4 GiB a run may: each cell holds 1 segment(s) of up to 2^26 draws at "
            "1368 bytes each (its Tally) and 8192 bytes of its own state; at most 449264 cells "
            "fit at this draws_per_cell");
  // More draws per cell: more segments per cell.
  expect_loads(base, {{"sweep", sweep(670, "1")}});
  EXPECT_HAS(load_text_error(base, {{"sweep", sweep(670, "67108865")}}),
             "--set sweep: 448900 cells x 67108865 draws_per_cell would keep about 4.57 GiB in "
             "memory, more than the 4 GiB a run may: each cell holds 2 segment(s)");
  // In the file: the sweep key's position.
  EXPECT_HAS(load_text_error(base + "sweep: " + sweep(1024, "1") + "\n"),
             "x.yaml:12:8: sweep: 1048576 cells x 1 draws_per_cell would keep about 9.34 GiB");
  // A stored config is read back (inspect, verify, merge of an earlier run's file).
  EXPECT_EQ(parse_config_text(base, "x", {{"sweep", sweep(4096, "1")}}).sweep.cells(), 16777216u);
}

TEST(Limits, SensitivityBaseDrawsAtMost2To50) {
  const std::string sens = text_of(kBase) + "sensitivity: {outputs: [pi12], base_draws: 2}\n";
  EXPECT_EQ(parse_config_text(sens, "x", {{"sensitivity.base_draws", "1125899906842624"}})
                .sensitivity.base_draws,
            std::uint64_t{1} << 50);
  EXPECT_EQ(error_of(sens, {{"sensitivity.base_draws", "18446744073709551615"}}),
            "--set sensitivity.base_draws: too large (got 18446744073709551615; at most "
            "1125899906842624)");
  EXPECT_HAS(
      error_of(text_of(kBase) + "sensitivity: {outputs: [pi12], base_draws: 1125899906842625}\n"),
      "x.yaml:12:44: sensitivity.base_draws: too large (got 1125899906842625; at most "
      "1125899906842624)");
}

// ---- small pieces ------------------------------------------------------------------------

TEST(Config, DrawSpecCopiesTheConfig) {
  const Config cfg = parse_config_text(text_of(kBase), "x", {{"model", "paper"}});
  const DrawSpec spec = cfg.draw_spec();
  EXPECT_EQ(spec.seed, 5u);
  EXPECT_EQ(spec.stream, 0u);
  EXPECT_EQ(spec.mode, ModelMode::paper);
  EXPECT_TRUE(spec.a2_is_gap);
  EXPECT_TRUE(spec.a2p_is_theta);
  for (int s = 0; s < kNumSlots; ++s) {
    EXPECT_EQ(spec.dist[s].kind, cfg.dist[s].kind);
    EXPECT_EQ(spec.dist[s].p0, cfg.dist[s].p0);
    EXPECT_EQ(spec.dist[s].p1, cfg.dist[s].p1);
    EXPECT_EQ(spec.dist[s].p2, cfg.dist[s].p2);
    EXPECT_EQ(spec.dist[s].p3, cfg.dist[s].p3);
  }
}

TEST(Config, ToStringGivesTheYamlSpellings) {
  EXPECT_STREQ(to_string(ModelMode::constrained), "constrained");
  EXPECT_STREQ(to_string(ModelMode::paper), "paper");
  EXPECT_STREQ(to_string(BackendChoice::automatic), "auto");
  EXPECT_STREQ(to_string(BackendChoice::cpu), "cpu");
  EXPECT_STREQ(to_string(BackendChoice::cuda), "cuda");
  const char* names[] = {"fixed",     "uniform",    "normal", "truncnormal",
                         "lognormal", "triangular", "beta"};
  for (std::uint32_t k = 0; k < 7; ++k) {
    EXPECT_STREQ(to_string(static_cast<DistKind>(k)), names[k]);
  }
}

// ---- output.draws (issue 3) ---------------------------------------------------------------

TEST(DrawsOutput, ReadsEachFormAndRoundTrips) {
  const std::string base = text_of(kBase);
  Config c = parse_config_text(base, "x.yaml", {{"output.draws", "all"}});
  EXPECT_EQ(c.draws_output.select, DrawSelect::all);
  EXPECT_FALSE(c.draws_output.compress);
  // The documented default list, in this order.
  const std::vector<int> defaults = {F_a,      F_b,    F_c,    F_A1,      F_A2,      F_A2p,
                                     F_pi11,   F_pi12, F_pi22, F_pi12_up, F_pi22_up, F_upgrade_gain,
                                     F_A2_crit};
  EXPECT_EQ(c.draws_output.fields, defaults);
  expect_round_trip(c);
  EXPECT_HAS(effective_yaml(c),
             "output:\n  path: \"out.h5\"\n  draws: all\n  fields: [a, b, c, A1, A2, A2p, pi11, "
             "pi12, pi22, pi12_up, pi22_up, upgrade_gain, A2_crit]\n  compression: none\n");

  c = parse_config_text(base, "x.yaml",
                        {{"output.draws", "{first: 1000}"},
                         {"output.fields", "[A2_crit, q22]"},
                         {"output.compression", "deflate"}});
  EXPECT_EQ(c.draws_output.select, DrawSelect::first);
  EXPECT_EQ(c.draws_output.n, 1000u);
  EXPECT_EQ(c.draws_output.fields, (std::vector<int>{F_A2_crit, F_q22}));
  EXPECT_TRUE(c.draws_output.compress);
  expect_round_trip(c);

  c = parse_config_text(base, "x.yaml", {{"output.draws", "{every: 18446744073709551615}"}});
  EXPECT_EQ(c.draws_output.select, DrawSelect::every);
  EXPECT_EQ(c.draws_output.n, UINT64_MAX);
  expect_round_trip(c);

  // Off: no keys in the effective YAML (plain configs keep their text).
  c = parse_config_text(base, "x.yaml");
  EXPECT_EQ(c.draws_output.select, DrawSelect::none);
  EXPECT_EQ(effective_yaml(c).find("draws: all"), std::string::npos);
  EXPECT_EQ(effective_yaml(c).find("fields"), std::string::npos);
}

TEST(DrawsOutput, RejectsBadValuesNamingTheKey) {
  const std::string base = text_of(kBase);
  EXPECT_HAS(error_of(base, {{"output.draws", "some"}}),
             "--set output.draws: expected all, {first: N} or {every: K}, got 'some'");
  EXPECT_HAS(error_of(base, {{"output.draws", "{first: 0}"}}),
             "output.draws.first: must be an integer >= 1 (got 0)");
  EXPECT_HAS(error_of(base, {{"output.draws", "{every: 1.5}"}}), "must be a whole number");
  EXPECT_HAS(error_of(base, {{"output.draws", "{first: 2, every: 3}"}}),
             "give exactly one of 'first' and 'every'");
  EXPECT_HAS(error_of(base, {{"output.draws", "{frist: 2}"}}), "unknown key 'frist'");
  EXPECT_HAS(error_of(base, {{"output.draws", "[1]"}}), "expected all, {first: N} or {every: K}");
  EXPECT_HAS(error_of(base, {{"output.draws", "all"}, {"output.fields", "[a, pi13]"}}),
             "output.fields[1]: unknown field 'pi13'");
  EXPECT_HAS(error_of(base, {{"output.draws", "all"}, {"output.fields", "[a, a]"}}),
             "field 'a' is listed twice");
  EXPECT_HAS(error_of(base, {{"output.draws", "all"}, {"output.fields", "[]"}}),
             "expected a non-empty list of field names");
  EXPECT_HAS(error_of(base, {{"output.draws", "all"}, {"output.compression", "gzip"}}),
             "must be one of none, deflate");
  // fields or compression without draws
  EXPECT_HAS(error_of(base, {{"output.fields", "[a]"}}),
             "--set output.fields: needs 'output.draws'");
  EXPECT_HAS(error_of(base + "  compression: deflate\n"),
             "x.yaml:12:16: output.compression: needs 'output.draws'");
}

}  // namespace
}  // namespace spillmc
