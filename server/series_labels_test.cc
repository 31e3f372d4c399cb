#include "server/series_labels.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "prometheus/types.pb.h"
#include "server/utf8.h"

namespace prom2gcm {
namespace {

const char* Check(const std::vector<Label>& labels, uint64_t* hash = nullptr) {
  uint64_t ignored;
  return CheckLabelsAndHash(labels, hash ? hash : &ignored);
}

TEST(SeriesLabelsTest, AcceptsSortedLabelsWithName) {
  EXPECT_EQ(Check({{"__name__", "up"}, {"instance", "a"}, {"job", "j"}}), nullptr);
}

TEST(SeriesLabelsTest, RejectsEachBrokenRule) {
  EXPECT_STREQ(Check({{"__name__", "up"}, {"job", "j"}, {"instance", "a"}}), "labels not sorted by name");
  EXPECT_STREQ(Check({{"__name__", "up"}, {"job", "a"}, {"job", "b"}}), "duplicate label name");
  EXPECT_STREQ(Check({{"", "x"}, {"__name__", "up"}}), "empty label name");
  EXPECT_STREQ(Check({{"job", "j"}}), "missing metric name (__name__)");
  EXPECT_STREQ(Check({{"__name__", ""}, {"job", "j"}}), "missing metric name (__name__)");
  EXPECT_STREQ(Check({}), "missing metric name (__name__)");
}

TEST(SeriesLabelsTest, NamesSortAsUnsignedBytes) {
  EXPECT_EQ(Check({{"__name__", "up"}, {"a", "1"}, {"ab", "2"}}), nullptr);  // a prefix sorts first
  EXPECT_STREQ(Check({{"__name__", "up"}, {"ab", "1"}, {"a", "2"}}), "labels not sorted by name");
  EXPECT_EQ(Check({{"__name__", "up"}, {"z", "1"}, {"\xc3\xa9", "2"}}), nullptr);  // U+00E9 after 'z'
  EXPECT_STREQ(Check({{"__name__", "up"}, {"\xc3\xa9", "1"}, {"z", "2"}}), "labels not sorted by name");
  EXPECT_STREQ(Check({{"__name__", "up"}, {"same_name", "1"}, {"same_name", "2"}}), "duplicate label name");
}

TEST(SeriesLabelLimitsTest, EachLimitAtItsBoundary) {
  const WriteLimits limits{.max_series_per_request = 10, .max_labels_per_series = 3, .max_label_name_bytes = 4,
                           .max_label_value_bytes = 5};
  Limit broken = Limit::kInFlightWrites;
  EXPECT_EQ(CheckLabelLimits(std::vector<Label>{{"abcd", "12345"}, {"b", ""}, {"c", "x"}}, limits, &broken), nullptr);
  EXPECT_EQ(broken, Limit::kInFlightWrites);  // untouched when within the limits

  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, limits, &broken),
               "more labels than --web.max-labels-per-series");
  EXPECT_EQ(broken, Limit::kLabelsPerSeries);
  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "1"}, {"abcde", "2"}}, limits, &broken),
               "label name longer than --web.max-label-name-length");
  EXPECT_EQ(broken, Limit::kLabelNameLength);
  EXPECT_STREQ(CheckLabelLimits(std::vector<Label>{{"a", "123456"}}, limits, &broken),
               "label value longer than --web.max-label-value-length");
  EXPECT_EQ(broken, Limit::kLabelValueLength);
}

TEST(SeriesLabelLimitsTest, NamesOfTheLimits) {
  EXPECT_STREQ(LimitName(Limit::kSeriesPerRequest), "series_per_request");
  EXPECT_STREQ(LimitName(Limit::kLabelsPerSeries), "labels_per_series");
  EXPECT_STREQ(LimitName(Limit::kLabelNameLength), "label_name_length");
  EXPECT_STREQ(LimitName(Limit::kLabelValueLength), "label_value_length");
  EXPECT_STREQ(LimitName(Limit::kInFlightWrites), "in_flight_writes");
}

TEST(SeriesLabelsTest, HashSeparatesNamesFromValues) {
  uint64_t a, b, c;
  ASSERT_EQ(Check({{"__name__", "up"}, {"ab", "c"}}, &a), nullptr);
  ASSERT_EQ(Check({{"__name__", "up"}, {"a", "bc"}}, &b), nullptr);
  ASSERT_EQ(Check({{"__name__", "up"}, {"ab", "c"}}, &c), nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
}

// The hash is not stored anywhere, but a change to it would show as a change of these values, so
// that it is made on purpose. The values were computed apart from this code: the canonical encoding
// built by a script and hashed by xxhsum -H3 (xxHash 0.8.1). The encodings are 16, 63, 175, 622 and 29
// bytes long, one in each of XXH3's length classes, and some have two-byte varint lengths.
TEST(SeriesLabelsTest, HashValuesAreStable) {
  const std::string mid(40, 'm'), y150(150, 'y'), y200(200, 'y'), v300(300, 'v');
  uint64_t hash = 0;
  ASSERT_EQ(Check({{"__name__", "up"}}, &hash), nullptr);
  EXPECT_EQ(hash, 0x6f24379a5e5a85c7ULL);
  ASSERT_EQ(Check({{"__name__", "up"}, {"instance", "localhost:9090"}, {"job", "prometheus"}}, &hash), nullptr);
  EXPECT_EQ(hash, 0x741c1fd2218a6785ULL);
  ASSERT_EQ(Check({{"__name__", "up"}, {"a", y150}}, &hash), nullptr);
  EXPECT_EQ(hash, 0x875c27f37581c5f0ULL);
  ASSERT_EQ(Check({{"__name__", "http_requests_total"}, {"code", "200"}, {"le", ""}, {"path", mid}, {"y", y200},
                   {"z", v300}},
                  &hash),
            nullptr);
  EXPECT_EQ(hash, 0x22a5f6fe2df6f517ULL);
  ASSERT_EQ(Check({{"__name__", "caf\xc3\xa9"}, {"a", "\xe2\x82\xac"}}, &hash), nullptr);
  EXPECT_EQ(hash, 0x1af9552ad8678290ULL);
}

// HashLabels' canonical encoding is protobuf's own encoding of TimeSeries.labels when every name and
// value is non-empty (protobuf leaves an empty string out; the canonical encoding writes it).
TEST(SeriesLabelsTest, HashIsOfTheLabelsProtobufEncoding) {
  const std::string long_value(300, 'v');
  const std::vector<Label> labels = {{"__name__", "up"}, {"instance", "localhost:9090"}, {"z", long_value}};
  ::prometheus::prompb::TimeSeries series;
  for (const Label& label : labels) {
    auto* added = series.add_labels();
    added->set_name(std::string(label.name));
    added->set_value(std::string(label.value));
  }
  EXPECT_EQ(HashLabels(labels), HashEncodedLabels(series.SerializeAsString()));
  const std::vector<Label> other = {{"__name__", "up"}, {"instance", "localhost:9091"}, {"z", long_value}};
  EXPECT_NE(HashLabels(labels), HashLabels(other));
}

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("http_requests_total"));
  EXPECT_TRUE(IsValidUtf8("a long ASCII value past eight bytes, and then some more"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9"));                   // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac and \xed\x9f\xbf"));  // U+20AC, U+D7FF (last before surrogates)
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));              // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));              // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbd"));                  // U+FFFD
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));   // NUL is valid UTF-8
  // A non-ASCII character straddling the 8-byte fast path's boundary.
  EXPECT_TRUE(IsValidUtf8("1234567\xc3\xa9 after"));
}

TEST(Utf8Test, RejectsEachKindOfMalformedSequence) {
  EXPECT_FALSE(IsValidUtf8("\x80"));                  // stray continuation byte
  EXPECT_FALSE(IsValidUtf8("abcdefgh\xbf"));          // ... after the fast path
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));              // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xc1\xbf"));              // overlong
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));          // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\xaf"));      // overlong 4-byte
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));          // U+D800, a surrogate
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));          // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));      // U+110000
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));      // lead byte past F4
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("caf\xc3"));               // truncated at the end
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xe2\x82x"));             // continuation byte missing
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x98x"));
  EXPECT_FALSE(IsValidUtf8("valid \xc3\xa9 then \xc3"));
}

TEST(SeriesLabelsTest, Utf8OverOneBufferChecksTheSpanThenEachLabel) {
  // Views into one buffer, as the decoder makes them; a non-UTF-8 byte between labels is no label's.
  const std::string buffer = "__name__up\xff" "city" "z\xc3\xbcrich" "job" "j";
  const std::string_view b = buffer;
  std::vector<Label> labels = {{b.substr(0, 8), b.substr(8, 2)}, {b.substr(11, 4), b.substr(15, 7)}};
  EXPECT_EQ(CheckLabelsUtf8(labels, b), nullptr);
  labels = {{b.substr(0, 8), b.substr(8, 2)}, {b.substr(22, 3), b.substr(25, 1)}};
  EXPECT_EQ(CheckLabelsUtf8(labels, b), nullptr);
  labels.push_back({b.substr(0, 8), b.substr(8, 3)});  // "up\xff"
  EXPECT_STREQ(CheckLabelsUtf8(labels, b), "label value is not valid UTF-8");
  labels = {{b.substr(0, 8), b.substr(8, 2)}, {"elsewhere", "\xff"}};  // not all in the buffer
  EXPECT_STREQ(CheckLabelsUtf8(labels, b), "label value is not valid UTF-8");
}

TEST(SeriesLabelsTest, Utf8RuleNamesNameOrValue) {
  EXPECT_EQ(CheckLabelsUtf8(std::vector<Label>{{"__name__", "up"}, {"city", "z\xc3\xbcrich"}}), nullptr);
  EXPECT_STREQ(CheckLabelsUtf8(std::vector<Label>{{"__name__", "up"}, {"j\xff" "b", "x"}}),
               "label name is not valid UTF-8");
  EXPECT_STREQ(CheckLabelsUtf8(std::vector<Label>{{"__name__", "up\xed\xa0\x80"}}), "label value is not valid UTF-8");
}

}  // namespace
}  // namespace prom2gcm
