#include "exporter/histogram_assembler.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "server/series_labels.h"

namespace prom2gcm {
namespace {

constexpr std::string_view kLeLabel = "le";
constexpr size_t kFirstSetBuckets = 16;

// Parses an `le` value as Prometheus writes it ("0.25", "1e+06", "+Inf").
bool ParseLe(std::string_view text, double* le) {
  if (text == "+Inf" || text == "Inf" || text == "inf" || text == "+inf") {
    *le = std::numeric_limits<double>::infinity();
    return true;
  }
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *le);
  return error == std::errc() && end == text.data() + text.size() && !std::isnan(*le);
}

bool StripSuffix(std::string_view name, std::string_view suffix, std::string_view* family) {
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  *family = name.substr(0, name.size() - suffix.size());
  return true;
}

}  // namespace

const char* AssemblyDropName(AssemblyDrop drop) {
  switch (drop) {
    case AssemblyDrop::kIncomplete: return "histogram_incomplete";
    case AssemblyDrop::kLatePart: return "histogram_late_part";
    case AssemblyDrop::kNoBounds: return "histogram_without_bounds";
    case AssemblyDrop::kCount: break;
  }
  return "unknown";
}

bool HistogramAssembler::Identify(std::span<const Label> labels, bool gauge, PartInfo* info, const char** reason) {
  std::string_view name, family, le_text;
  bool has_le = false;
  for (const Label& label : labels) {
    if (label.name == kMetricNameLabel) name = label.value;
    if (label.name == kLeLabel) le_text = label.value, has_le = true;
  }
  if (StripSuffix(name, "_bucket", &family)) {
    info->part = HistogramPart::kBucket;
    if (!has_le || !ParseLe(le_text, &info->le)) {
      *reason = "histogram bucket without a numeric le label";
      return false;
    }
  } else if (StripSuffix(name, "_sum", &family)) {
    info->part = HistogramPart::kSum;
  } else if (StripSuffix(name, "_count", &family)) {
    info->part = HistogramPart::kCount;
  } else {
    *reason = "histogram series named neither _bucket, _sum nor _count";
    return false;
  }
  std::vector<Label> histogram_labels;
  histogram_labels.reserve(labels.size());
  for (const Label& label : labels) {
    if (label.name == kLeLabel && info->part == HistogramPart::kBucket) continue;
    histogram_labels.push_back(label.name == kMetricNameLabel ? Label{label.name, family} : label);
  }
  info->gauge = gauge;
  if (const char* error = CheckLabelsAndHash(histogram_labels, &info->histogram_hash); error != nullptr) {
    *reason = error;
    return false;
  }
  return true;
}

std::shared_ptr<const OwnedLabels> HistogramAssembler::HistogramLabels(std::span<const Label> part_labels) {
  auto labels = std::make_shared<OwnedLabels>();
  std::string_view family;
  for (const Label& label : part_labels) {
    if (label.name == kLeLabel) continue;
    if (label.name == kMetricNameLabel &&
        (StripSuffix(label.value, "_bucket", &family) || StripSuffix(label.value, "_sum", &family) ||
         StripSuffix(label.value, "_count", &family))) {
      labels->emplace_back(label.name, family);
      continue;
    }
    labels->emplace_back(label.name, label.value);
  }
  return labels;
}

HistogramAssembler::HistogramAssembler(const Options& options) : options_(options) {}

void HistogramAssembler::Add(const PartInfo& info, std::span<const Label> labels, const Sample& sample, uint64_t seq,
                             int64_t now, std::vector<AssembledHistogram>* done, AssemblyCounts* counts) {
  Stripe& stripe = stripes_[info.histogram_hash % kStripes];
  std::lock_guard lock(stripe.mutex);
  Assembly& assembly = FindOrAdd(&stripe, info, labels, now);
  if (sample.timestamp_ms <= assembly.last_finished_ms) {
    counts->Add(AssemblyDrop::kLatePart);
    return;
  }
  PartialSet& set = FindOrAddSet(&stripe, &assembly, sample.timestamp_ms, now);
  if (seq != 0) {
    set.seqs.push_back(seq);
    if (ledger_ != nullptr) ledger_->AddRefs(seq, 1);
  }
  if (IsStaleMarker(sample.value)) {
    set.stale = true;
  } else if (info.part == HistogramPart::kSum) {
    set.has_sum = true;
    set.sum = sample.value;
  } else if (info.part == HistogramPart::kCount) {
    set.has_count = true;
    set.count = sample.value;
  } else {
    auto bucket = std::find_if(set.buckets.begin(), set.buckets.end(), [&](const auto& b) { return b.first == info.le; });
    if (bucket == set.buckets.end()) {
      set.buckets.emplace_back(info.le, sample.value);
    } else {
      bucket->second = sample.value;  // the same part again: the newer value wins
    }
  }
  Finish(info.histogram_hash, &assembly, &stripe, now, /*all=*/false, done, counts);
}

HistogramAssembler::Assembly& HistogramAssembler::FindOrAdd(Stripe* stripe, const PartInfo& info,
                                                            std::span<const Label> labels, int64_t now) {
  Assembly& assembly = stripe->assemblies[info.histogram_hash];
  if (!assembly.labels) {
    assembly.labels = HistogramLabels(labels);
    assembly.gauge = info.gauge;
  }
  assembly.last_touched_ms = now;
  return assembly;
}

HistogramAssembler::PartialSet& HistogramAssembler::FindOrAddSet(Stripe* stripe, Assembly* assembly,
                                                                  int64_t timestamp_ms, int64_t now) {
  std::vector<PartialSet>& sets = assembly->sets;
  auto it = std::lower_bound(sets.begin(), sets.end(), timestamp_ms,
                             [](const PartialSet& set, int64_t t) { return set.timestamp_ms < t; });
  if (it != sets.end() && it->timestamp_ms == timestamp_ms) return *it;
  it = sets.emplace(it);
  it->timestamp_ms = timestamp_ms;
  it->first_seen_ms = now;
  it->buckets = std::move(assembly->spare_buckets);
  assembly->spare_buckets = {};
  // Room for the layout's bounds and +Inf; before the first set finishes, for Prometheus' default
  // layout (11 bounds) and a few more.
  if (it->buckets.capacity() == 0) {
    it->buckets.reserve(assembly->layout_known ? assembly->layout.size() + 1 : kFirstSetBuckets);
  }
  ++stripe->pending_sets;
  return *it;
}

void HistogramAssembler::AddExemplars(const PartInfo& info, std::span<const Label> labels,
                                      std::vector<GcmExemplar> exemplars, int64_t now) {
  Stripe& stripe = stripes_[info.histogram_hash % kStripes];
  std::lock_guard lock(stripe.mutex);
  std::vector<GcmExemplar>& kept = FindOrAdd(&stripe, info, labels, now).exemplars;
  for (GcmExemplar& exemplar : exemplars) kept.push_back(std::move(exemplar));
  if (kept.size() > kMaxExemplars) kept.erase(kept.begin(), kept.end() - kMaxExemplars);
}

bool HistogramAssembler::IsComplete(const Assembly& assembly, const PartialSet& set, bool timed_out) {
  if (!set.has_sum || !set.has_count) return false;
  if (std::none_of(set.buckets.begin(), set.buckets.end(), [](const auto& b) { return std::isinf(b.first); })) {
    return false;
  }
  // Timed out, the set is taken as it is: the histogram's first (its layout is not known yet, so
  // nothing tells how many buckets are still on the way), or one whose layout lost a bound.
  if (timed_out) return true;
  if (!assembly.layout_known) return false;
  for (double bound : assembly.layout) {
    if (std::none_of(set.buckets.begin(), set.buckets.end(), [&](const auto& b) { return b.first == bound; })) {
      return false;
    }
  }
  return true;
}

void HistogramAssembler::Finish(uint64_t hash, Assembly* assembly, Stripe* stripe, int64_t now, bool all,
                                std::vector<AssembledHistogram>* done, AssemblyCounts* counts) {
  while (!assembly->sets.empty()) {
    PartialSet& set = assembly->sets.front();
    const bool timed_out = all || now - set.first_seen_ms >= options_.wait_ms;
    const bool complete = set.stale || IsComplete(*assembly, set, timed_out);
    if (!complete && !timed_out) break;  // later sets wait for this one
    if (complete) {
      AssembledHistogram out{hash, assembly->labels, assembly->gauge, set.stale, {}, {}, {}};
      if (set.stale || ToHistogram(&set, &out.histogram)) {
        out.histogram.timestamp_ms = set.timestamp_ms;
        if (!set.stale) {
          assembly->layout = out.histogram.custom_values;
          assembly->layout_known = true;
        }
        out.exemplars = std::move(assembly->exemplars);
        assembly->exemplars.clear();
        out.seqs = std::move(set.seqs);
        done->push_back(std::move(out));
      } else {
        counts->Add(AssemblyDrop::kNoBounds);
        ReleaseSeqs(set.seqs);
      }
    } else {
      counts->Add(AssemblyDrop::kIncomplete);
      ReleaseSeqs(set.seqs);
    }
    assembly->last_finished_ms = set.timestamp_ms;
    set.buckets.clear();
    assembly->spare_buckets = std::move(set.buckets);
    assembly->sets.erase(assembly->sets.begin());
    --stripe->pending_sets;
  }
}

bool HistogramAssembler::ToHistogram(PartialSet* set, NativeHistogram* out) {
  std::vector<std::pair<double, double>>& buckets = set->buckets;
  std::sort(buckets.begin(), buckets.end());
  if (buckets.size() < 2) return false;  // only +Inf
  out->schema = kCustomBucketsSchema;
  out->float_counts = true;
  out->sum = set->sum;
  out->custom_values.clear();
  out->positive_counts.clear();
  double previous = 0, total = 0;
  for (const auto& [le, cumulative] : buckets) {
    if (!std::isinf(le)) out->custom_values.push_back(le);
    const double count = std::max(0.0, (std::isnan(cumulative) ? 0.0 : cumulative) - previous);
    out->positive_counts.push_back(count);
    previous = std::max(previous, cumulative);
    total += count;
  }
  out->positive_spans = {HistogramSpan{0, static_cast<uint32_t>(out->positive_counts.size())}};
  out->count = total;
  return true;
}

void HistogramAssembler::Expire(int64_t now, bool all, std::vector<AssembledHistogram>* done,
                                AssemblyCounts* counts) {
  for (Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    for (auto it = stripe.assemblies.begin(); it != stripe.assemblies.end();) {
      Finish(it->first, &it->second, &stripe, now, all, done, counts);
      if (it->second.sets.empty() && now - it->second.last_touched_ms >= options_.idle_ttl_ms) {
        it = stripe.assemblies.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void HistogramAssembler::ReleaseSeqs(const std::vector<uint64_t>& seqs) {
  if (ledger_ == nullptr) return;
  for (uint64_t seq : seqs) ledger_->Release(seq, 1);
}

size_t HistogramAssembler::pending_sets() const {
  size_t total = 0;
  for (const Stripe& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    total += stripe.pending_sets;
  }
  return total;
}

}  // namespace prom2gcm
