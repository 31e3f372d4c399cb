#include "integration/gcm_emulator/write_outcome.h"

#include <map>
#include <utility>

#include "google/rpc/status.pb.h"

namespace prom2gcm::emulator {
namespace {

using google::monitoring::v3::CreateTimeSeriesSummary;

// Bytes of error text in the status message and in the summary before the rest is cut short, so
// that message and details together stay well under gRPC's default 8 KiB metadata limit.
constexpr size_t kMessageBudget = 1024;
constexpr size_t kSummaryBudget = 2048;

// The failures sharing one code and message, in the order they were met.
struct ErrorGroup {
  grpc::StatusCode code;
  std::string message;
  int point_count = 0;
  std::vector<int> indices;
};

std::vector<ErrorGroup> GroupFailures(const std::vector<SeriesFailure>& failures) {
  std::vector<ErrorGroup> groups;
  std::map<std::pair<int, std::string>, size_t> position;
  for (const SeriesFailure& failure : failures) {
    const auto key = std::make_pair(static_cast<int>(failure.rejection.code), failure.rejection.message);
    auto [it, inserted] = position.emplace(key, groups.size());
    if (inserted) groups.push_back(ErrorGroup{failure.rejection.code, failure.rejection.message, 0, {}});
    groups[it->second].point_count += failure.point_count;
    groups[it->second].indices.push_back(failure.index);
  }
  return groups;
}

// "timeSeries[0-2,5]" for indices 0, 1, 2 and 5 (ascending).
std::string IndexRanges(const std::vector<int>& indices) {
  std::string text = "timeSeries[";
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    if (i > 0) text += ",";
    text += std::to_string(indices[i]);
    if (j > i) text += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  return text + "]";
}

void AddSummaryError(grpc::StatusCode code, const std::string& message, int point_count,
                     CreateTimeSeriesSummary* summary) {
  CreateTimeSeriesSummary::Error* error = summary->add_errors();
  error->mutable_status()->set_code(static_cast<int>(code));
  error->mutable_status()->set_message(message);
  error->set_point_count(point_count);
}

std::string StatusMessage(const std::vector<ErrorGroup>& groups) {
  std::string message = "One or more TimeSeries could not be written:";
  for (size_t i = 0; i < groups.size(); ++i) {
    if (message.size() > kMessageBudget) {
      return message + " and " + std::to_string(groups.size() - i) + " more errors.";
    }
    message += (i == 0 ? " " : "; ") + groups[i].message + ": " + IndexRanges(groups[i].indices);
  }
  return message;
}

}  // namespace

CreateTimeSeriesSummary BuildSummary(const WriteOutcome& outcome) {
  CreateTimeSeriesSummary summary;
  summary.set_total_point_count(outcome.total_points);
  summary.set_success_point_count(outcome.success_points);
  size_t text_bytes = 0;
  int omitted_points = 0;
  for (const ErrorGroup& group : GroupFailures(outcome.failures)) {
    if (text_bytes > kSummaryBudget) {
      omitted_points += group.point_count;
      continue;
    }
    text_bytes += group.message.size();
    AddSummaryError(group.code, group.message, group.point_count, &summary);
  }
  if (omitted_points > 0) {
    AddSummaryError(grpc::StatusCode::INVALID_ARGUMENT, "Further errors omitted by the emulator.", omitted_points,
                    &summary);
  }
  return summary;
}

grpc::Status ToGrpcStatus(const WriteOutcome& outcome) {
  if (outcome.request_rejection) {
    return grpc::Status(outcome.request_rejection->code, outcome.request_rejection->message);
  }
  if (outcome.failures.empty()) return grpc::Status::OK;
  const std::string message = StatusMessage(GroupFailures(outcome.failures));
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  details.set_message(message);
  details.add_details()->PackFrom(BuildSummary(outcome));
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message, details.SerializeAsString());
}

void CountOutcome(const WriteOutcome& outcome, EmulatorStats* stats) {
  if (outcome.request_rejection) {
    stats->CountRejected(outcome.request_rejection->reason, outcome.total_points);
    return;
  }
  stats->CountAccepted(outcome.success_points);
  for (const SeriesFailure& failure : outcome.failures) {
    stats->CountRejected(failure.rejection.reason, failure.point_count);
  }
}

}  // namespace prom2gcm::emulator
