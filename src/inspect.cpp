// `spillmc inspect`: a result file as a terminal table or as one JSON object
// whose keys are the HDF5 names (docs/output.md).
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "spillmc/fields.hpp"
#include "spillmc/result.hpp"

namespace spillmc {
namespace {

double draws_per_second(const RunInfo& info) {
  return info.wall_seconds > 0.0 ? static_cast<double>(info.draws_requested) / info.wall_seconds
                                 : 0.0;
}

double share(std::uint64_t part, std::uint64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : NAN;
}

// ---------------------------------------------------------------------------
// Table.

std::string u64(std::uint64_t v) {
  return std::to_string(v);
}

// 7 significant digits: enough to compare runs by eye, narrow enough for a column.
std::string num(double x) {
  if (std::isnan(x)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", x);
  return buf;
}

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f %%", 100.0 * fraction);
  return buf;
}

std::string left(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string right(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

void header_line(std::string& out, const char* key, const std::string& value) {
  out += "  " + left(key, 18) + value + "\n";
}

}  // namespace

std::string format_table(const ResultFile& r) {
  const RunInfo& info = r.info;
  std::string out;
  out += "SpillMC result\n";
  header_line(out, "file", r.path);
  header_line(out, "format", r.format + " version " + std::to_string(r.format_version));
  header_line(out, "program version", info.program_version);
  header_line(out, "git commit", info.git_commit);
  header_line(out, "created", info.created);
  header_line(out, "model", info.model);
  header_line(out, "backend / device", info.backend + " / " + info.device);
  header_line(out, "seed", u64(info.seed));
  header_line(out, "draws requested", u64(info.draws_requested));
  header_line(out, "draws valid", u64(r.draws_valid));
  header_line(out, "draws invalid", u64(r.draws_invalid));
  header_line(out, "block draws", u64(info.block_draws));
  header_line(out, "kind",
              info.kind == "shard"
                  ? "shard " + u64(info.shard_index) + " of " + u64(info.shard_count) + " (0-based)"
                  : info.kind);
  header_line(out, "segments",
              "[" + u64(r.state.segment_first) + ", " + u64(r.segment_end) + ") of " +
                  u64(r.state.segment_count_total) + " (" + u64(info.segment_blocks) +
                  " blocks each)");
  header_line(out, "config hash", info.config_hash);
  header_line(out, "wall time",
              num(info.wall_seconds) + " s (" + num(draws_per_second(info)) + " draws/s)");

  constexpr std::size_t kName = 16, kCol = 15;
  out += "\nFields (valid draws; A2_crit only where d + A1 > 0)\n";
  out += "  " + left("field", kName);
  for (const char* h : {"count", "mean", "std", "sem", "min", "max"}) out += right(h, kCol);
  out += "\n";
  for (int f = 0; f < kNumFields; ++f) {
    const SummaryStats& s = r.summary[f];
    out += "  " + left(kFieldNames[f], kName) + right(u64(s.count), kCol);
    for (double x : {s.mean, s.std, s.sem, s.min, s.max}) out += right(num(x), kCol);
    out += "\n";
  }
  out += "  A2_crit undefined (d + A1 <= 0): " + u64(r.a2crit_undefined) + " of " +
         u64(r.draws_valid) + " valid draws (" + percent(share(r.a2crit_undefined, r.draws_valid)) +
         ")\n";

  constexpr std::size_t kEvent = 24;
  out += "\nEvents (share of valid draws, Wilson 95 % interval)\n";
  out += "  " + left("event", kEvent) + right("count", kCol) + right("probability", kCol) +
         right("ci95_low", kCol) + right("ci95_high", kCol) + "\n";
  for (int e = 0; e < kNumEvents; ++e) {
    const Proportion& p = r.events[e];
    out += "  " + left(kEventNames[e], kEvent) + right(u64(p.count), kCol) +
           right(num(p.probability), kCol) + right(num(p.ci95_low), kCol) +
           right(num(p.ci95_high), kCol) + "\n";
  }

  out += "\nRegimes (share of valid draws)\n";
  out += "  " + left("#  label", 22) + right("stage2", kCol) + right("share", 12) +
         right("upgrade", kCol) + right("share", 12) + "\n";
  for (int g = 0; g < kNumRegimes; ++g) {
    const auto s2 = static_cast<std::uint64_t>(r.regime2[g]);
    const auto up = static_cast<std::uint64_t>(r.regime_up[g]);
    out += "  " + left(std::to_string(g) + "  " + kRegimeLabels[g], 22) + right(u64(s2), kCol) +
           right(percent(share(s2, r.draws_valid)), 12) + right(u64(up), kCol) +
           right(percent(share(up, r.draws_valid)), 12) + "\n";
  }

  out += "\nInvalid draws (share of draws requested)\n";
  for (int i = 0; i < kNumInvalid; ++i) {
    out += "  " + left(kInvalidNames[i], kEvent) + right(u64(r.invalid[i]), kCol) +
           right(percent(share(r.invalid[i], info.draws_requested)), 12) + "\n";
  }

  if (!r.sweep.axes.empty()) {
    const auto& sw = r.sweep;
    const std::size_t cells = sw.valid.size();
    out += "\nSweep: " + std::to_string(cells) + " cells over";
    for (std::size_t i = 0; i < sw.axes.size(); ++i)
      out += (i ? " x " : " ") + sw.axes[i] + " (" + std::to_string(sw.coords[i].size()) + ")";
    out += "\n";
    constexpr std::size_t kMaxRows = 400;
    if (cells > kMaxRows) {
      out += "  (" + std::to_string(cells) +
             " cells: too many to list; read /sweep with h5py or "
             "xarray, or plot with scripts/plot.py)\n";
    } else {
      out += " ";
      for (const auto& a : sw.axes) out += " " + right(a, 12);
      out += " " + right("valid", 12) + " " + right("P(leader)", 12) + " " +
             right("P(upgrade)", 12) + " " + right("mean gain", 12) + "\n";
      for (std::size_t c = 0; c < cells; ++c) {
        std::size_t k = c;
        std::vector<std::size_t> idx(sw.axes.size());
        for (std::size_t i = sw.axes.size(); i-- > 0;) {
          idx[i] = k % sw.coords[i].size();
          k /= sw.coords[i].size();
        }
        out += " ";
        for (std::size_t i = 0; i < sw.axes.size(); ++i)
          out += " " + right(num(sw.coords[i][idx[i]]), 12);
        out += " " + right(u64(sw.valid[c]), 12) + " " + right(num(sw.p_leader_gains[c]), 12) +
               " " + right(num(sw.p_upgrade_pays[c]), 12) + " " +
               right(num(sw.mean_upgrade_gain[c]), 12) + "\n";
      }
    }
  }

  if (!info.config_yaml.empty()) {
    out += "\nConfig\n";
    std::size_t start = 0;
    while (start < info.config_yaml.size()) {
      const std::size_t end = info.config_yaml.find('\n', start);
      const std::size_t stop = end == std::string::npos ? info.config_yaml.size() : end;
      out += "  " + info.config_yaml.substr(start, stop - start) + "\n";
      start = stop + 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON.

namespace {

// Appends `c` as \u escape.
void escape_code(std::string& out, unsigned c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", c);
  out += buf;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid
// (overlong forms, surrogates and values past U+10FFFF included).
std::size_t utf8_length(const std::string& s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = b(i);
  std::size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

// A JSON string literal. Bytes that are not UTF-8 (a config written in
// another encoding) become U+FFFD so the output always parses.
std::string jstr(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            escape_code(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      escape_code(out, 0xFFFD);
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out + "\"";
}

// Round-trip precision; JSON has no NaN or infinity, so those become null.
std::string jnum(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string jnum(std::uint64_t v) {
  return std::to_string(v);
}
std::string jnum(std::int64_t v) {
  return std::to_string(v);
}

// Builds one object line by line: members are appended with their already
// rendered values, commas and indentation are handled here.
class Object {
 public:
  explicit Object(int indent) : indent_(indent) {}
  Object& add(const std::string& key, const std::string& rendered) {
    body_ += (body_.empty() ? "" : ",\n") +
             std::string(static_cast<std::size_t>(indent_ + 2), ' ') + jstr(key) + ": " + rendered;
    return *this;
  }
  std::string str() const {
    return "{\n" + body_ + "\n" + std::string(static_cast<std::size_t>(indent_), ' ') + "}";
  }

 private:
  int indent_;
  std::string body_;
};

// Small objects stay on one line: {"count": 1, "mean": 2}.
class Inline {
 public:
  Inline& add(const std::string& key, const std::string& rendered) {
    body_ += (body_.empty() ? "" : ", ") + jstr(key) + ": " + rendered;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string regimes_json(const std::int64_t (&counts)[kNumRegimes]) {
  std::string labels = "[", values = "[";
  for (int g = 0; g < kNumRegimes; ++g) {
    labels += (g ? ", " : "") + jstr(kRegimeLabels[g]);
    values += (g ? ", " : "") + jnum(counts[g]);
  }
  return Inline().add("labels", labels + "]").add("counts", values + "]").str();
}

}  // namespace

std::string format_json(const ResultFile& r) {
  const RunInfo& info = r.info;
  Object attributes(2);
  attributes.add("format", jstr(r.format))
      .add("format_version", std::to_string(r.format_version))
      .add("program_version", jstr(info.program_version))
      .add("git_commit", jstr(info.git_commit))
      .add("config", jstr(info.config_yaml))
      .add("seed", jnum(info.seed))
      .add("draws_requested", jnum(info.draws_requested))
      .add("draws_valid", jnum(r.draws_valid))
      .add("draws_invalid", jnum(r.draws_invalid))
      .add("block_draws", jnum(info.block_draws))
      .add("kind", jstr(info.kind))
      .add("shard_index", jnum(info.shard_index))
      .add("shard_count", jnum(info.shard_count))
      .add("config_hash", jstr(info.config_hash))
      .add("file_checksum", jstr(r.file_checksum))
      .add("model", jstr(info.model))
      .add("backend", jstr(info.backend))
      .add("device", jstr(info.device))
      .add("created", jstr(info.created))
      .add("wall_seconds", jnum(info.wall_seconds))
      .add("draws_per_second", jnum(draws_per_second(info)));

  Object summary(2);
  for (int f = 0; f < kNumFields; ++f) {
    const SummaryStats& s = r.summary[f];
    summary.add(kFieldNames[f], Inline()
                                    .add("count", jnum(s.count))
                                    .add("mean", jnum(s.mean))
                                    .add("std", jnum(s.std))
                                    .add("sem", jnum(s.sem))
                                    .add("min", jnum(s.min))
                                    .add("max", jnum(s.max))
                                    .str());
  }

  Object events(2);
  for (int e = 0; e < kNumEvents; ++e) {
    const Proportion& p = r.events[e];
    events.add(kEventNames[e], Inline()
                                   .add("count", jnum(p.count))
                                   .add("probability", jnum(p.probability))
                                   .add("ci95_low", jnum(p.ci95_low))
                                   .add("ci95_high", jnum(p.ci95_high))
                                   .str());
  }

  Object regimes(2);
  regimes.add("stage2", regimes_json(r.regime2)).add("upgrade", regimes_json(r.regime_up));

  Object invalid(2);
  for (int i = 0; i < kNumInvalid; ++i) invalid.add(kInvalidNames[i], jnum(r.invalid[i]));

  Object top(0);
  top.add("file", jstr(r.path))
      .add("attributes", attributes.str())
      .add("summary", summary.str())
      .add("undefined", Inline().add("A2_crit", jnum(r.a2crit_undefined)).str())
      .add("events", events.str())
      .add("regimes", regimes.str())
      .add("invalid", invalid.str());
  return top.str() + "\n";
}

}  // namespace spillmc
