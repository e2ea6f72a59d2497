// spillmc: command-line front end. Every failure maps to a documented exit
// code (errors.hpp); output files appear only when complete.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/progress.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/version.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}

struct RunArgs {
  std::string config;
  std::string output;
  std::string draws, seed, backend, threads, model;  // strings: validated by the config loader
  std::vector<std::string> sets;
  bool force = false;
  bool quiet = false;
};

// A path is any string: quote it so YAML never reads it as null, a map or a comment.
std::string yaml_quoted(const std::string& s) {
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '\\' || ch == '"') q += '\\';
    q += ch;
  }
  return q + "\"";
}

// Command-line options are applied as overrides, so they are validated (and
// recorded in the effective config) exactly like the file's own values.
std::vector<spillmc::Override> overrides_of(const RunArgs& a) {
  std::vector<spillmc::Override> o;
  for (const auto& s : a.sets) o.push_back(spillmc::parse_override(s));
  if (!a.output.empty()) o.push_back({"output.path", yaml_quoted(a.output), "-o"});
  if (!a.draws.empty()) o.push_back({"draws", a.draws, "--draws"});
  if (!a.seed.empty()) o.push_back({"seed", a.seed, "--seed"});
  if (!a.backend.empty()) o.push_back({"backend", a.backend, "--backend"});
  if (!a.threads.empty()) o.push_back({"threads", a.threads, "--threads"});
  if (!a.model.empty()) o.push_back({"model", a.model, "--model"});
  return o;
}

int cmd_run(const RunArgs& args) {
  using namespace spillmc;
  const Config cfg = load_config(args.config, overrides_of(args));
  check_output_path(cfg.output_path, args.force);
  auto backend = select_backend(cfg.backend, cfg.threads);
  spdlog::info("run: {} draws, seed {}, model {}, backend {} ({})", cfg.draws, cfg.seed,
               to_string(cfg.model), backend->name(), backend->device());

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(cfg.draws, Progress::default_mode(args.quiet), std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::now();
  Result result;
  try {
    result.tally = run_blocks(
        *backend, cfg.draw_spec(), cfg.draws,
        [&](std::uint64_t done, std::uint64_t total) {
          (void)total;
          progress.update(done);
        },
        &g_stop);
  } catch (const Interrupted&) {
    progress.finish();
    throw;
  }
  progress.finish();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (g_stop.load()) throw Interrupted();

  RunInfo& info = result.info;
  info.program_version = kProgramVersion;
  info.git_commit = kGitCommit;
  info.config_yaml = effective_yaml(cfg);
  info.seed = cfg.seed;
  info.draws_requested = cfg.draws;
  info.model = to_string(cfg.model);
  info.backend = backend->name();
  info.device = backend->device();
  info.created = spillmc::utc_now_iso8601();
  info.wall_seconds = wall;
  write_result(cfg.output_path, result, args.force);
  const Tally& t = result.tally;
  spdlog::info("wrote {}: {} draws ({} valid, {} invalid) in {:.3f} s, {:.4g} draws/s",
               cfg.output_path, t.draws, t.valid, t.draws - t.valid, wall,
               wall > 0 ? static_cast<double>(t.draws) / wall : 0.0);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace spillmc;
  auto logger = spdlog::stderr_color_mt("spillmc");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");

  CLI::App app{"SpillMC: Monte Carlo evaluator of a two-firm technology spillover model"};
  app.set_version_flag("--version", std::string("spillmc ") + kProgramVersion + " (" + kGitCommit +
                                        ", CUDA backend " + (cuda_compiled() ? "on" : "off") + ")");
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "evaluate the draws of CONFIG and write an HDF5 file");
  run->add_option("config", run_args.config, "YAML config file")->required();
  run->add_option("-o,--output", run_args.output, "output file (overrides output.path)");
  run->add_option("--draws", run_args.draws, "number of draws");
  run->add_option("--seed", run_args.seed, "random seed (0 .. 2^64-1)");
  run->add_option("--backend", run_args.backend, "auto|cpu|cuda");
  run->add_option("--threads", run_args.threads, "CPU threads (0: all cores)");
  run->add_option("--model", run_args.model, "constrained|paper");
  run->add_option("--set", run_args.sets, "override a config key: KEY=VALUE (repeatable)");
  run->add_flag("--force", run_args.force, "overwrite an existing output file");
  run->add_flag("-q,--quiet", run_args.quiet, "no progress, warnings and errors only");
  run->add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  std::string validate_config;
  std::vector<std::string> validate_sets;
  auto* validate = app.add_subcommand("validate", "check CONFIG and print the effective config");
  validate->add_option("config", validate_config, "YAML config file")->required();
  validate->add_option("--set", validate_sets, "override a config key: KEY=VALUE (repeatable)");

  std::string inspect_file;
  bool inspect_json = false;
  auto* inspect = app.add_subcommand("inspect", "show the results stored in an HDF5 file");
  inspect->add_option("file", inspect_file, "result file (.h5)")->required();
  inspect->add_flag("--json", inspect_json, "print JSON instead of a table");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version or the usage error
    return rc == 0 ? kExitOk : kExitBadInput;
  }

  if (run_args.quiet && log_level == "info") log_level = "warn";
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    if (*run) return cmd_run(run_args);
    if (*validate) {
      std::vector<Override> o;
      for (const auto& s : validate_sets) o.push_back(parse_override(s));
      std::cout << effective_yaml(load_config(validate_config, o));
      return kExitOk;
    }
    if (*inspect) {
      const ResultFile r = read_result(inspect_file);
      std::cout << (inspect_json ? format_json(r) : format_table(r));
      return kExitOk;
    }
  } catch (const Interrupted&) {
    spdlog::warn("interrupted: no output written");
    return kExitInterrupted;
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return kExitInternal;
  }
  return kExitInternal;
}
