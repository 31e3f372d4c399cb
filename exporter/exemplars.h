// Exemplars: Prometheus exemplars (a value, a time and labels such as trace_id and span_id, sent with
// a histogram's series) become the exemplars of the GCM distribution points written for it.
//   - trace_id and span_id, when both are present, become a google.monitoring.v3.SpanContext
//     attachment "projects/PROJECT/traces/TRACE_ID/spans/SPAN_ID", PROJECT being the series' GCM
//     project; every other label goes into a google.monitoring.v3.DroppedLabels attachment;
//   - each exemplar goes on the bucket of the distribution its value falls in; a bucket keeps one,
//     the newest; the kept ones are sorted by value, as GCM requires.
//
// Thread-safety: plain values and pure functions; none needed.
#ifndef PROM2GCM_EXPORTER_EXEMPLARS_H_
#define PROM2GCM_EXPORTER_EXEMPLARS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exporter/native_histogram.h"
#include "server/decoded_request.h"

namespace prom2gcm {

struct GcmExemplar {
  double value = 0;
  int64_t timestamp_ms = 0;
  std::string span_name;  // empty without trace_id and span_id
  std::vector<std::pair<std::string, std::string>> dropped_labels;
};

// An exemplar of a series written to GCM project `project_name` ("projects/ID").
GcmExemplar MakeGcmExemplar(std::string_view project_name, std::span<const Label> labels, double value,
                            int64_t timestamp_ms);

// The exemplars of a series of `request`, as MakeGcmExemplar makes them.
std::vector<GcmExemplar> MakeGcmExemplars(std::string_view project_name, const DecodedRequest& request,
                                          const Series& series);

// The index of the bucket of d (underflow 0, then the finite buckets, then overflow) that `value`
// falls in.
size_t BucketIndex(const DistributionValue& d, double value);

// Puts at most one exemplar per bucket of d (the newest) into d->encoded_exemplars, by value.
void AttachExemplars(std::span<const GcmExemplar> exemplars, DistributionValue* d);

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_EXEMPLARS_H_
