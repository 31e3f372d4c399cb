// GcmDeliveryChecker against a real GCM emulator over a real gRPC channel.
#include "exporter/delivery_check.h"

#include <algorithm>

#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm {
namespace {

using emulator::kNanosPerMilli;
using emulator::kNanosPerSecond;
using emulator::TimeNs;
using emulator::testing::CumulativeSeries;
using emulator::testing::GaugeSeries;
using emulator::testing::kCounterType;
using emulator::testing::kGaugeType;
using emulator::testing::kProject;
using emulator::testing::RequestOf;
using emulator::testing::TargetResource;
using emulator::testing::TimeSeries;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kOtherProject[] = "other-project";

// The identity the exporter would hold for `series`: its points cleared.
std::string IdentityOf(TimeSeries series) {
  series.clear_points();
  return series.SerializeAsString();
}

PointToCheck PointOf(const TimeSeries& series, TimeNs end, const std::string& project = kProject) {
  return PointToCheck{"projects/" + project, IdentityOf(series), end / kNanosPerMilli};
}

TimeSeries InProject(TimeSeries series, const std::string& project) {
  (*series.mutable_resource()->mutable_labels())["project_id"] = project;
  return series;
}

class DeliveryCheckTest : public emulator::testing::EmulatorTest {
 protected:
  void SetUp() override {
    EmulatorTest::SetUp();
    checker_ = std::make_unique<GcmDeliveryChecker>(
        grpc::CreateChannel(emulator_->grpc_endpoint(), grpc::InsecureChannelCredentials()), 5000);
  }

  std::vector<bool> Delivered(const std::vector<PointToCheck>& points) {
    std::vector<bool> delivered;
    std::string error;
    EXPECT_TRUE(checker_->Check(points, &delivered, &error)) << error;
    return delivered;
  }

  TimeNs At(int seconds) const { return base_ + seconds * kNanosPerSecond; }

  std::unique_ptr<GcmDeliveryChecker> checker_;
};

TEST_F(DeliveryCheckTest, PointsWrittenAreDelivered) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(0), 1), CumulativeSeries({}, At(-10), At(0), 1)}).ok());
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(10), 2)}).ok());
  const TimeSeries gauge = GaugeSeries({{"room", "a"}}, 0, 0);
  const TimeSeries counter = CumulativeSeries({}, 0, 0, 0);
  EXPECT_THAT(Delivered({PointOf(gauge, At(0)), PointOf(gauge, At(10)), PointOf(counter, At(0))}),
              ElementsAre(true, true, true));
}

TEST_F(DeliveryCheckTest, PointsNewerThanWhatGcmHoldsAreNotDelivered) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(0), 1)}).ok());
  const TimeSeries gauge = GaugeSeries({{"room", "a"}}, 0, 0);
  EXPECT_THAT(Delivered({PointOf(gauge, At(0) + kNanosPerMilli), PointOf(gauge, At(20)), PointOf(gauge, At(0))}),
              ElementsAre(false, false, true));
}

TEST_F(DeliveryCheckTest, SeriesGcmNeverSawIsNotDelivered) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(0), 1), GaugeSeries({{"room", "b"}}, At(30), 1)}).ok());
  TimeSeries other_job = GaugeSeries({{"room", "a"}}, 0, 0);
  *other_job.mutable_resource() = TargetResource("other");
  EXPECT_THAT(Delivered({PointOf(GaugeSeries({{"room", "c"}}, 0, 0), At(0)), PointOf(other_job, At(0)),
                         PointOf(GaugeSeries({}, 0, 0), At(0))}),
              ElementsAre(false, false, false));
}

TEST_F(DeliveryCheckTest, SeriesWithALaterPointCountsAsDelivered) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(0), 1)}).ok());
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}}, At(60), 2)}).ok());
  const TimeSeries gauge = GaugeSeries({{"room", "a"}}, 0, 0);
  EXPECT_THAT(Delivered({PointOf(gauge, At(30))}), ElementsAre(true));
  EXPECT_THAT(Delivered({PointOf(gauge, At(61))}), ElementsAre(false));
}

TEST_F(DeliveryCheckTest, MatchesSeriesRegardlessOfKindAndValueTypeInTheIdentity) {
  ASSERT_TRUE(Create({GaugeSeries({{"room", "a"}, {"floor", "1"}}, At(0), 1)}).ok());
  TimeSeries gauge = GaugeSeries({{"floor", "1"}, {"room", "a"}}, 0, 0);
  gauge.clear_metric_kind();
  gauge.clear_value_type();
  EXPECT_THAT(Delivered({PointOf(gauge, At(0))}), ElementsAre(true));
}

TEST_F(DeliveryCheckTest, ChecksTwoMetricTypesInTwoProjectsInOneCall) {
  const TimeSeries gauge = GaugeSeries({{"room", "a"}}, At(0), 1);
  const TimeSeries counter = CumulativeSeries({}, At(-10), At(0), 1);
  ASSERT_TRUE(Create({gauge, counter}).ok());
  ASSERT_TRUE(Create(RequestOf({InProject(gauge, kOtherProject)}, kOtherProject)).ok());
  const TimeSeries other_gauge = InProject(gauge, kOtherProject);
  const TimeSeries other_counter = InProject(counter, kOtherProject);
  EXPECT_THAT(Delivered({PointOf(other_counter, At(0), kOtherProject), PointOf(gauge, At(0)),
                         PointOf(other_gauge, At(0), kOtherProject), PointOf(counter, At(0)),
                         PointOf(counter, At(10)), PointOf(other_gauge, At(10), kOtherProject)}),
              ElementsAre(false, true, true, true, false, false));
}

TEST_F(DeliveryCheckTest, FollowsPagesToTheEnd) {
  constexpr int kSeries = 10100;  // more than one page of 10000
  std::vector<PointToCheck> points;
  for (int first = 0; first < kSeries; first += 200) {
    std::vector<TimeSeries> batch;
    for (int i = first; i < first + 200 && i < kSeries; ++i) {
      batch.push_back(GaugeSeries({{"i", std::to_string(i)}}, At(0), i));
      points.push_back(PointOf(batch.back(), At(0)));
    }
    ASSERT_TRUE(Create(batch).ok());
  }
  points.push_back(PointOf(GaugeSeries({{"i", "new"}}, 0, 0), At(0)));
  const std::vector<bool> delivered = Delivered(points);
  ASSERT_EQ(delivered.size(), points.size());
  EXPECT_EQ(std::count(delivered.begin(), delivered.end(), true), kSeries);
  EXPECT_FALSE(delivered.back());
}

TEST_F(DeliveryCheckTest, NoPointsIsAnEmptyAnswer) {
  EXPECT_TRUE(Delivered({}).empty());
}

TEST_F(DeliveryCheckTest, UnparsableIdentityIsAnError) {
  std::vector<bool> delivered;
  std::string error;
  EXPECT_FALSE(checker_->Check({PointToCheck{"projects/p", "\xff\xff", 0}}, &delivered, &error));
  EXPECT_THAT(error, HasSubstr("does not parse"));
}

TEST_F(DeliveryCheckTest, UnreachableEndpointIsAnError) {
  const std::string endpoint = emulator_->grpc_endpoint();
  emulator_->Stop();
  GcmDeliveryChecker checker(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()), 1000);
  std::vector<bool> delivered;
  std::string error;
  EXPECT_FALSE(checker.Check({PointOf(GaugeSeries({}, 0, 0), At(0))}, &delivered, &error));
  EXPECT_THAT(error, HasSubstr("ListTimeSeries of " + std::string(kGaugeType)));
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace prom2gcm
