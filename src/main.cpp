// spillmc: command-line front end. Every failure maps to a documented exit
// code (errors.hpp); output files appear only when complete.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "spillmc/checkpoint.hpp"
#include "spillmc/config.hpp"
#include "spillmc/draw_writer.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/mpi.hpp"
#include "spillmc/progress.hpp"
#include "spillmc/result.hpp"
#include "spillmc/run.hpp"
#include "spillmc/shard.hpp"
#include "spillmc/version.hpp"

namespace {

std::atomic<bool> g_stop{false};
const spillmc::MpiSession* g_mpi = nullptr;  // set first thing in main
extern "C" void on_signal(int) {
  g_stop.store(true);
}

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1};  // SIGUSR1: Slurm's --signal

void install_signal_handlers() {
  for (const int sig : kStopSignals) std::signal(sig, on_signal);
}

// Earlier still than main: before the program's own static initializers
// (the shared libraries' constructors have run by then).
__attribute__((constructor(101))) void install_signal_handlers_at_load() {
  install_signal_handlers();
}

namespace fs = std::filesystem;

// An option's value and whether it was given at all: `--draws ""` is given
// (and refused), not the same as no --draws.
struct Given {
  std::string value;
  bool set = false;
};

struct RunArgs {
  std::string config;
  Given output;
  Given draws, seed, backend, threads, model;  // strings: validated by the config loader
  std::vector<std::string> sets;
  Given shard;  // I/N; default from SLURM_ARRAY_TASK_*
  Given checkpoint_every;
  bool resume = false;
  bool force = false;
  bool quiet = false;
};

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// Command-line options are applied as overrides, so they are validated (and
// recorded in the effective config) exactly like the file's own values.
std::vector<spillmc::Override> overrides_of(const RunArgs& a) {
  std::vector<spillmc::Override> o;
  for (const auto& s : a.sets) o.push_back(spillmc::parse_override(s));
  if (a.output.set) {
    if (a.output.value.empty()) throw spillmc::InputError("-o: empty path");
    o.push_back({"output.path", spillmc::yaml_quoted(a.output.value), "-o"});
  }
  const struct {
    const Given& g;
    const char* key;
    const char* option;
  } options[] = {{a.draws, "draws", "--draws"},
                 {a.seed, "seed", "--seed"},
                 {a.backend, "backend", "--backend"},
                 {a.threads, "threads", "--threads"},
                 {a.model, "model", "--model"},
                 {a.checkpoint_every, "checkpoint.every", "--checkpoint-every"}};
  for (const auto& opt : options)
    // Given empty or as a YAML null, it is refused by apply_overrides (an
    // option, unlike --set, never removes its key).
    if (opt.g.set) o.push_back({opt.key, opt.g.value, opt.option});
  return o;
}

// Whether `a` and `b` name one file: equal once absolute and normalized
// (symlinks in the part that exists resolved), or the same file when both exist.
bool same_file(const std::string& a, const std::string& b) {
  const auto norm = [](const std::string& p) {
    std::error_code ec;
    const fs::path abs = fs::absolute(fs::path(p), ec).lexically_normal();
    const fs::path n = fs::weakly_canonical(abs, ec);
    return ec ? abs : n;
  };
  if (norm(a) == norm(b)) return true;
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

// Anything at `path`: a file, a directory, a dangling symlink.
bool entry_exists(const std::string& path) {
  std::error_code ec;
  return fs::symlink_status(path, ec).type() != fs::file_type::not_found && !ec;
}

// checkpoint.path is written and removed by the run: it must not be the run's
// output or its config (exit 2).
void check_checkpoint_path(const std::string& ckpt, const std::string& output,
                           const std::string& config) {
  const auto refuse = [&](const std::string& what, const std::string& other) {
    throw spillmc::InputError("checkpoint.path: " + quoted(ckpt) + " is the " + what + " " +
                              quoted(other) +
                              "; the checkpoint needs a file of its own (it is replaced while the "
                              "run goes on and removed at its end)");
  };
  if (same_file(ckpt, output)) refuse("output file", output);
  if (same_file(ckpt, config)) refuse("config file", config);
}

// Why the file at `path` is not a checkpoint of the run `want` describes ("" when
// it is one). An empty want.backend is not compared (before the backend is chosen).
std::string not_this_runs_checkpoint(const std::string& path, const spillmc::RunInfo& want) {
  using namespace spillmc;
  ResultFile f;
  try {
    f = read_result(path);
  } catch (const Error& e) {
    return e.what();
  }
  if (f.info.kind != kKindCheckpoint)
    return "it is a SpillMC file of kind '" + f.info.kind + "', not a checkpoint";
  if (!f.file_checksum_problem.empty()) return "it is corrupt: " + f.file_checksum_problem;
  const std::string other = checkpoint_identity_problem(f, want);
  return other.empty() ? "" : "it is the checkpoint of another run: " + other;
}

// Removes the run's checkpoint; a warning when that fails.
void remove_checkpoint(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("cannot remove checkpoint {}: {}", path, std::strerror(errno));
}

// --resume after the result was written but before its checkpoint was removed
// (a kill in between, a requeued job that had finished): a complete result for
// this config at the output path ends the run successfully.
bool already_complete(const spillmc::Config& cfg, const spillmc::RunPlan& plan,
                      const spillmc::ShardSpec& shard, const std::string& ckpt_path, bool writer) {
  using namespace spillmc;
  if (!fs::exists(cfg.output_path)) return false;
  try {
    const ResultFile r = read_result(cfg.output_path);
    if (!verify_result(r).empty() || r.info.config_hash != config_identity_hash(cfg) ||
        r.info.kind != (shard.set ? kKindShard : kKindResult) ||
        r.info.shard_index != shard.index || r.info.shard_count != shard.count ||
        r.info.program_version != kProgramVersion)
      return false;
  } catch (const Error&) {
    return false;  // check_output_path refuses it with the usual message
  }
  spdlog::info("--resume: {} already holds the complete result; nothing to do", cfg.output_path);
  // Its leftover checkpoint goes, but only a checkpoint of this very run.
  if (writer && entry_exists(ckpt_path)) {
    RunInfo want;
    want.program_version = kProgramVersion;
    want.config_hash = config_identity_hash(cfg);
    want.seed = cfg.seed;
    want.draws_requested = plan.total_draws();
    want.model = to_string(cfg.model);
    want.shard_index = shard.index;
    want.shard_count = shard.count;
    want.backend.clear();
    const std::string why = not_this_runs_checkpoint(ckpt_path, want);
    if (why.empty())
      remove_checkpoint(ckpt_path);
    else
      spdlog::warn("checkpoint.path {} is left in place: it is not this run's checkpoint ({})",
                   quoted(ckpt_path), why);
  }
  return true;
}

int cmd_run(const RunArgs& args) {
  using namespace spillmc;
  Config cfg = load_config(args.config, overrides_of(args));
  // A shard runs segments [I*S/N, (I+1)*S/N) and, without -o, writes beside output.path.
  const ShardSpec shard = args.shard.set ? parse_shard(args.shard.value) : shard_from_env();
  if (shard.set && !args.output.set)
    cfg.output_path = shard_output_path(cfg.output_path, shard.index, shard.count);
  // An explicit checkpoint.path is shared by every task of an array job (one
  // config): each shard gets its own, tagged as shard files are (README, Slurm).
  if (shard.set && !cfg.checkpoint_path.empty())
    cfg.checkpoint_path = shard_output_path(cfg.checkpoint_path, shard.index, shard.count);
  RunPlan plan = make_run_plan(cfg);
  check_run_options(cfg, plan, shard.set, g_mpi->size());
  const std::uint64_t total_segments = plan.total_segments();
  const auto range = shard.set ? shard_segments(total_segments, shard.index, shard.count)
                               : std::pair<std::uint64_t, std::uint64_t>{0, total_segments};
  std::uint64_t range_draws = 0;
  for (std::uint64_t j = range.first; j < range.second; ++j)
    range_draws += plan_segment_draws(plan, j);
  if (shard.set)
    spdlog::info("shard {}/{} (0-based): segments [{}, {}) of {}, {} draws", shard.index,
                 shard.count, range.first, range.second, total_segments, range_draws);
  // Under MPI only rank 0 checks and writes the output and the checkpoint, and
  // decides how the run starts (already complete, resume, from the beginning);
  // the other ranks take its decision (MpiSession::broadcast), whatever files
  // they see themselves. Every rank computes.
  const bool writer = g_mpi->rank() == 0;
  const std::string ckpt_path = cfg.checkpoint_file();
  const bool checkpointing = cfg.checkpoint_every > 0;
  const bool uses_checkpoint = checkpointing || args.resume;
  // The checkpoint is this run's alone for the whole run (exit 3 when another
  // run holds it); checked before computing.
  std::unique_ptr<CheckpointLock> ckpt_lock;
  if (writer && uses_checkpoint) {
    check_checkpoint_path(ckpt_path, cfg.output_path, args.config);
    ckpt_lock = std::make_unique<CheckpointLock>(ckpt_path);
    if (checkpointing) probe_checkpoint_path(ckpt_path);
  }
  {
    std::vector<unsigned char> complete(1, 0);
    if (writer && args.resume && !args.force)
      complete[0] = already_complete(cfg, plan, shard, ckpt_path, writer) ? 1 : 0;
    g_mpi->broadcast(complete);
    if (complete[0] != 0) return kExitOk;
  }
  if (writer) check_output_path(cfg.output_path, args.force);
  auto backend = make_mpi_backend(select_backend(cfg.backend, cfg.threads, g_mpi->local_rank()),
                                  *g_mpi, &g_stop);
  if (plan.cells.size() > 1)
    spdlog::info(
        "sweep: {} cells x {} draws per cell ('draws' is not used), seed {}, model {}, "
        "backend {} ({})",
        plan.cells.size(), plan.draws, cfg.seed, to_string(cfg.model), backend->name(),
        backend->device());
  else
    spdlog::info("run: {} draws, seed {}, model {}, backend {} ({})", cfg.draws, cfg.seed,
                 to_string(cfg.model), backend->name(), backend->device());
  // What identifies the run: recorded in checkpoints and the output.
  Result result;
  RunInfo& info = result.info;
  info.kind = shard.set ? kKindShard : kKindResult;
  info.shard_index = shard.index;
  info.shard_count = shard.count;
  info.config_hash = config_identity_hash(cfg);
  info.program_version = kProgramVersion;
  info.git_commit = kGitCommit;
  info.config_yaml = effective_yaml(cfg);
  info.seed = cfg.seed;
  info.draws_requested = plan.total_draws();  // a sweep: cells x draws_per_cell
  info.model = to_string(cfg.model);
  info.backend = backend->name();
  info.device = backend->device();

  // Checkpoints: `latest` follows the state after each chunk (segments are
  // only appended, so this is O(1) per chunk); rank 0 saves it every
  // checkpoint.every seconds and once more when a signal stops the run.
  // The file at checkpoint.path is replaced and removed only when it is this
  // run's: resumed from, written by it, or a stale checkpoint of this same run
  // (what --resume would continue). Anything else there is refused, untouched.
  SegmentProgress latest;
  latest.next_block = plan_first_block(plan, range.first);
  bool resuming = false;
  bool own_checkpoint = false;
  double wall_before = 0.0;  // computing time of the legs before this one
  if (writer && args.resume && fs::exists(ckpt_path)) {
    RunInfo saved;
    latest = read_checkpoint(ckpt_path, info, plan, range.first, range.second, &saved);
    resuming = true;
    own_checkpoint = true;
    wall_before = saved.wall_seconds > 0.0 ? saved.wall_seconds : 0.0;
    spdlog::info("resuming from checkpoint {}: {} segments done, next block {}", ckpt_path,
                 latest.segments.size(), latest.next_block);
  } else if (checkpointing && writer && entry_exists(ckpt_path)) {
    // Its file checksum covers every byte: an intact checkpoint of this run's
    // identity is this run's, whichever build wrote it.
    const std::string why = not_this_runs_checkpoint(ckpt_path, info);
    if (!why.empty())
      throw OutputError("checkpoint.path " + quoted(ckpt_path) +
                        " exists and is not a checkpoint of this run (" + why +
                        "); it is left untouched: move it away or set checkpoint.path to "
                        "another file");
    spdlog::warn("checkpoint {} exists and will be replaced (use --resume to continue it)",
                 ckpt_path);
    own_checkpoint = true;
  } else if (args.resume && writer) {
    spdlog::info("--resume: no checkpoint at {}; starting from the beginning", ckpt_path);
  }
  // Rank 0's decision and state for every rank: ranks that see another
  // checkpoint (node-local paths, another working directory) or none still
  // continue from rank 0's, so the blocks and partials line up.
  if (g_mpi->size() > 1) {
    std::vector<unsigned char> start;
    if (writer) {
      start.push_back(resuming ? 1 : 0);
      const std::vector<unsigned char> state = progress_to_bytes(latest, plan.analysis);
      start.insert(start.end(), state.begin(), state.end());
    }
    g_mpi->broadcast(start);
    if (!writer) {
      if (start.empty()) throw Error("MPI: rank 0 sent no start decision");
      resuming = start[0] != 0;
      latest = progress_from_bytes(std::vector<unsigned char>(start.begin() + 1, start.end()),
                                   plan.analysis);
    }
  }
  // Per-draw output streams into the result's temporary file while the run
  // computes. Opened after any checkpoint is read: read_result forks a probe,
  // and no other thread (the DrawFile's writer) may be inside HDF5 then.
  std::unique_ptr<DrawFile> draw_file;
  if (writer && plan.analysis.has_draws())
    draw_file = std::make_unique<DrawFile>(cfg.output_path, args.force, cfg.draws_output,
                                           draws_selected_count(cfg.draws_output, plan.draws));
  std::uint64_t saved_block = resuming ? latest.next_block : ~std::uint64_t{0};
  auto last_save = std::chrono::steady_clock::now();
  // Computing starts at t0 (reset just before it); a checkpoint records the
  // time of every leg so far, so the result's wall_seconds covers them all.
  auto t0 = std::chrono::steady_clock::now();
  const auto save = [&](bool periodic) {
    const auto s0 = std::chrono::steady_clock::now();
    try {
      info.wall_seconds = wall_before + std::chrono::duration<double>(s0 - t0).count();
      write_checkpoint(ckpt_path, make_checkpoint(info, range.first, total_segments, latest));
      own_checkpoint = true;
    } catch (const OutputError& e) {
      if (!periodic) throw;
      spdlog::warn("{} (the run goes on)", e.what());
    }
    saved_block = latest.next_block;
    last_save = std::chrono::steady_clock::now();
    spdlog::debug("checkpoint {}: next block {} ({:.3f} s)", ckpt_path, latest.next_block,
                  std::chrono::duration<double>(last_save - s0).count());
  };
  ChunkFn after_chunk;
  if (checkpointing)
    after_chunk = [&](const SegmentProgress& p) {
      for (std::size_t j = latest.segments.size(); j < p.segments.size(); ++j)
        latest.segments.push_back(p.segments[j]);
      for (std::size_t j = latest.extras.size(); j < p.extras.size(); ++j)
        latest.extras.push_back(p.extras[j]);
      latest.current = p.current;
      latest.current_extra = p.current_extra;
      latest.hist = p.hist;
      latest.next_block = p.next_block;
      const double since =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save).count();
      if (writer && since >= cfg.checkpoint_every) save(true);
    };

  // The signal handlers were installed first thing in main: a signal that came
  // during start-up (config, locks, reading the checkpoint) stops the run here,
  // before computing, with the same exit codes as one that comes later.
  Progress progress(range_draws, Progress::default_mode(args.quiet || !writer),
                    std::chrono::seconds(10));
  t0 = std::chrono::steady_clock::now();
  try {
    if (g_mpi->any(g_stop.load())) throw Interrupted();
    DrawsFn on_draws;
    if (draw_file) on_draws = [&](std::uint64_t, const DrawBatch& b) { draw_file->append(b); };
    SegmentProgress done = run_plan_segments(
        *backend, plan, range.first, range.second,
        [&](std::uint64_t n, std::uint64_t total) {
          (void)total;
          progress.update(n);
        },
        g_mpi->size() > 1 ? nullptr : &g_stop /* the MPI backend agrees on it per chunk */, 0,
        kSegmentBlocks, resuming ? &latest : nullptr, after_chunk, on_draws);
    result.state.segments = std::move(done.segments);
    result.state.extras = std::move(done.extras);
    result.state.hist = std::move(done.hist);
    if (cfg.sensitivity.enabled && writer) {
      spdlog::info("sensitivity: {} base draws", cfg.sensitivity.base_draws);
      // On the run's GPU when it has one, chosen as select_backend chooses it.
      const int sobol_device =
          backend->name() == "cuda" ? g_mpi->local_rank() % std::max(1, cuda_device_count()) : -1;
      result.analysis.sensitivity =
          run_sensitivity(cfg.draw_spec(), cfg.sensitivity, cfg.threads, &g_stop, {}, sobol_device);
      result.analysis.has_sensitivity = true;
    }
    // Collective under MPI: rank 0 writes only once every rank got here (a failed
    // rank has ended the job instead) and none was interrupted.
    if (g_mpi->any(g_stop.load())) throw Interrupted();
  } catch (const Interrupted&) {
    progress.finish();
    // Without checkpoint.every, a checkpoint this run resumed from is still
    // there to continue (75); no checkpoint at all: 130, nothing written.
    if (!checkpointing && !resuming) throw;
    if (!checkpointing) {
      spdlog::warn(
          "stopped by a signal: checkpoint {} still holds the run up to block {} (without "
          "checkpoint.every nothing newer was saved); continue with --resume (exit {})",
          ckpt_path, saved_block, static_cast<int>(kExitCheckpointed));
      return kExitCheckpointed;
    }
    // Every rank holds the same state; rank 0 saves it unless just saved.
    if (writer && saved_block != latest.next_block) save(false);
    spdlog::warn(
        "stopped by a signal: checkpoint {} holds the run up to block {}; continue "
        "with --resume (exit {})",
        ckpt_path, latest.next_block, static_cast<int>(kExitCheckpointed));
    return kExitCheckpointed;
  }
  progress.finish();
  const double wall =
      wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!writer) return kExitOk;

  result.state.segment_first = range.first;
  result.state.segment_count_total = total_segments;
  result.tally = fold_segments(result.state.segments);
  fill_analysis(cfg, plan, result);
  info.created = spillmc::utc_now_iso8601();
  info.wall_seconds = wall;
  write_result(cfg.output_path, result, args.force, draw_file.get());
  // The result is complete: its checkpoint is no longer needed.
  if (own_checkpoint) remove_checkpoint(ckpt_path);
  const Tally& t = result.tally;
  spdlog::info("wrote {}: {} draws ({} valid, {} invalid) in {:.3f} s, {:.4g} draws/s",
               cfg.output_path, t.draws, t.valid, t.draws - t.valid, wall,
               wall > 0 ? static_cast<double>(t.draws) / wall : 0.0);
  return kExitOk;
}

// spillmc merge: shards of one run into the result a single run gives.
int cmd_merge(const std::vector<std::string>& shards, const std::string& output, bool force) {
  using namespace spillmc;
  if (output.empty()) throw InputError("-o: empty path");
  check_output_path(output, force);
  const Result result = merge_shards(shards, output);
  write_result(output, result, force);
  spdlog::info("merged {} shards into {}: {} draws ({} valid)", shards.size(), output,
               result.tally.draws, result.tally.valid);
  return kExitOk;
}

// A file's checksums: the whole file's, /state's and, in a checkpoint,
// /checkpoint's (what --resume checks before the run's identity). What inspect
// requires before it shows numbers, and all verify asks of a checkpoint.
std::vector<std::string> checksum_problems(const spillmc::ResultFile& r) {
  std::vector<std::string> p;
  if (!r.file_checksum_problem.empty()) p.push_back(r.file_checksum_problem);
  if (r.state_checksum != r.state_checksum_data)
    p.push_back("/state checksum mismatch: stored " + r.state_checksum + ", data gives " +
                r.state_checksum_data + " (the state is corrupt)");
  if (r.info.kind == spillmc::kKindCheckpoint &&
      r.checkpoint_checksum != r.checkpoint_checksum_data)
    p.push_back("/checkpoint checksum mismatch: stored " + r.checkpoint_checksum + ", data gives " +
                r.checkpoint_checksum_data + " (the state is corrupt)");
  return p;
}

// spillmc verify: "OK: ..." per good file ("CHECKPOINT: ..." for an intact checkpoint); each
// problem of a bad one; exit 3 if any is bad.
int cmd_verify(const std::vector<std::string>& files) {
  using namespace spillmc;
  int rc = kExitOk;
  for (const std::string& path : files) {
    std::vector<std::string> problems;
    ResultFile r;
    try {
      r = read_result(path);
      problems = r.info.kind == kKindCheckpoint ? checksum_problems(r) : verify_result(r);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
    if (problems.empty() && r.info.kind == kKindCheckpoint) {
      // Not a result: one line, and exit 0 when its checksums hold.
      std::cout << "CHECKPOINT: " << path
                << ": a checkpoint (kind checkpoint), checksums OK: " << r.state.segments.size()
                << " segments of [" << r.state.segment_first << ", " << r.state.segment_count_total
                << ") done, next block " << r.checkpoint.next_block << ", seed " << r.info.seed
                << ", model " << r.info.model
                << "; it is not a result: continue its run with spillmc run "
                << "CONFIG --resume\n";
      continue;
    }
    if (problems.empty()) {
      const RunInfo& i = r.info;
      std::cout << "OK: " << path << ": " << i.kind;
      if (i.kind == kKindShard) std::cout << " " << i.shard_index << "/" << i.shard_count;
      std::cout << ", segments [" << r.state.segment_first << ", " << r.segment_end << ") of "
                << r.state.segment_count_total << ", " << r.draws_valid + r.draws_invalid << " of "
                << i.draws_requested << " draws, seed " << i.seed << ", model " << i.model
                << ", format " << r.format << " " << r.format_version << "\n";
      continue;
    }
    rc = kExitOutput;
    for (const std::string& p : problems) std::cout << "FAIL: " << path << ": " << p << "\n";
  }
  return rc;
}

// spillmc inspect: the table or JSON of a file whose checksums hold. A corrupt
// file's numbers are not shown: its problems, as verify words them, and exit 3.
int cmd_inspect(const std::string& path, bool json) {
  using namespace spillmc;
  const ResultFile r = read_result(path);
  const std::vector<std::string> problems = checksum_problems(r);
  if (!problems.empty()) {
    for (const std::string& p : problems) spdlog::error("FAIL: {}: {}", path, p);
    spdlog::error("{} is corrupt: its numbers are not shown (spillmc verify checks it)",
                  quoted(path));
    return kExitOutput;
  }
  std::cout << (json ? format_json(r) : format_table(r));
  return kExitOk;
}

// Logs the error and returns its exit code; under MPI with several ranks, ends
// the whole job with that code instead (no rank is left waiting, nothing written).
int fail(int code, const std::string& msg) {
  if (g_mpi->size() > 1) g_mpi->abort(code, msg);
  spdlog::error("{}", msg);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace spillmc;
  // The handlers are in place since load (install_signal_handlers_at_load), so
  // a signal during start-up (MPI, config, locks, reading a checkpoint) is
  // noted rather than killing the process: `run` acts on it before computing
  // (exit 75 or 130); other commands put the defaults back.
  const MpiSession mpi(argc, argv);  // rank 0 of 1 unless launched by mpirun/srun
  g_mpi = &mpi;
  install_signal_handlers();  // again, in case the MPI library set its own
  auto logger = spdlog::stderr_color_mt("spillmc");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(mpi.size() > 1 ? "[%Y-%m-%d %H:%M:%S.%e] [rank " +
                                           std::to_string(mpi.rank()) + "] [%^%l%$] %v"
                                     : std::string("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v"));

  CLI::App app{"SpillMC: Monte Carlo evaluator of a two-firm technology spillover model"};
  app.set_version_flag("--version", std::string("spillmc ") + kProgramVersion + " (" + kGitCommit +
                                        ", CUDA backend " + (cuda_compiled() ? "on" : "off") +
                                        ", MPI " + (mpi_compiled() ? "on" : "off") + ")");
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "evaluate the draws of CONFIG and write an HDF5 file");
  run->add_option("config", run_args.config, "YAML config file")->required();
  // Options whose value becomes a config key: their values are checked in
  // overrides_of (an empty or null value is an error, not "not given").
  std::vector<std::pair<CLI::Option*, Given*>> given;
  const auto value_option = [&](const char* name, Given& g, const char* help) {
    given.emplace_back(run->add_option(name, g.value, help), &g);
  };
  value_option("-o,--output", run_args.output, "output file (overrides output.path)");
  value_option("--draws", run_args.draws, "number of draws");
  value_option("--seed", run_args.seed, "random seed (0 .. 2^64-1)");
  value_option("--backend", run_args.backend, "auto|cpu|cuda");
  value_option("--threads", run_args.threads, "CPU threads (0: all cores)");
  value_option("--model", run_args.model, "constrained|paper");
  run->add_option("--set", run_args.sets, "override a config key: KEY=VALUE (repeatable)");
  value_option("--shard", run_args.shard,
               "I/N: run the I-th (0-based) of N shares of the segments and write a shard "
               "file (default: SLURM_ARRAY_TASK_ID/COUNT)");
  run->add_flag("--force", run_args.force, "overwrite an existing output file");
  value_option("--checkpoint-every", run_args.checkpoint_every,
               "save a checkpoint every SECONDS (overrides checkpoint.every)");
  run->add_flag("--resume", run_args.resume,
                "continue from the checkpoint (checkpoint.path, default OUTPUT.ckpt); without "
                "one, start from the beginning");
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

  std::vector<std::string> merge_inputs;
  std::string merge_output;
  bool merge_force = false;
  auto* merge = app.add_subcommand("merge", "merge the shard files of one run into its result");
  merge->add_option("shards", merge_inputs, "shard files (.h5)")->required();
  merge->add_option("-o,--output", merge_output, "result file to write")->required();
  merge->add_flag("--force", merge_force, "overwrite an existing output file");

  std::vector<std::string> verify_files;
  auto* verify = app.add_subcommand("verify", "check result or shard files; exit 3 if any is bad");
  verify->add_option("files", verify_files, "result or shard files (.h5)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version or the usage error
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  for (const auto& [option, g] : given) g->set = option->count() > 0;

  if (run_args.quiet && log_level == "info") log_level = "warn";
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (mpi.rank() != 0 && spdlog::get_level() < spdlog::level::warn)
    spdlog::set_level(spdlog::level::warn);

  if (!*run) {
    // Only `run` stops cleanly on a signal; the other commands keep the defaults.
    for (const int sig : kStopSignals) std::signal(sig, SIG_DFL);
    if (g_stop.load()) return kExitInterrupted;
  }
  try {
    if (*run) return cmd_run(run_args);
    if (*merge) return cmd_merge(merge_inputs, merge_output, merge_force);
    if (*verify) return cmd_verify(verify_files);
    if (*validate) {
      std::vector<Override> o;
      for (const auto& s : validate_sets) o.push_back(parse_override(s));
      std::cout << effective_yaml(load_config(validate_config, o));
      return kExitOk;
    }
    if (*inspect) return cmd_inspect(inspect_file, inspect_json);
  } catch (const Interrupted&) {
    spdlog::warn("interrupted: no output written");
    return kExitInterrupted;
  } catch (const Error& e) {
    return fail(e.exit_code(), e.what());
  } catch (const std::exception& e) {
    return fail(kExitInternal, std::string("internal error: ") + e.what());
  }
  return kExitInternal;
}
