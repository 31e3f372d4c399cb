#include "exporter/series_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace prom2gcm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::unique_ptr<SeriesFilter> MustParse(const std::vector<std::string>& selectors) {
  std::string error;
  std::unique_ptr<SeriesFilter> filter = SeriesFilter::Parse(selectors, &error);
  EXPECT_NE(filter, nullptr) << error;
  return filter;
}

// Whether any of selectors matches the series; labels may be given in any order.
bool MatchesAny(const std::vector<std::string>& selectors, std::vector<Label> labels) {
  std::unique_ptr<SeriesFilter> filter = MustParse(selectors);
  if (filter == nullptr) return false;
  std::sort(labels.begin(), labels.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
  return filter->Matches(labels);
}

bool Matches(const std::string& selector, std::vector<Label> labels) {
  return MatchesAny({selector}, std::move(labels));
}

// The error Parse gives for selector, or "(parsed)" when it accepts it.
std::string ParseError(const std::string& selector) {
  std::string error;
  std::unique_ptr<SeriesFilter> filter = SeriesFilter::Parse({selector}, &error);
  return filter == nullptr ? error : "(parsed)";
}

// The problem part of ParseError, without "invalid series selector '...' [at column N]: ". The
// quoted selector is at least as long as the selector, so the first ": " after that is the prefix's.
std::string Problem(const std::string& selector) {
  const std::string error = ParseError(selector);
  const size_t end = error.find(": ", std::string("invalid series selector '").size() + selector.size());
  return end == std::string::npos ? error : error.substr(end + 2);
}

TEST(SeriesFilterTest, NoSelectorsMatchEverything) {
  EXPECT_TRUE(MatchesAny({}, {{"__name__", "up"}, {"job", "a"}}));
  EXPECT_TRUE(MatchesAny({}, {}));
}

TEST(SeriesFilterTest, MetricNameAlone) {
  EXPECT_TRUE(Matches("up", {{"__name__", "up"}, {"job", "a"}}));
  EXPECT_FALSE(Matches("up", {{"__name__", "upx"}}));
  EXPECT_FALSE(Matches("up", {{"__name__", "u"}}));
  EXPECT_TRUE(Matches("job:rate5m:sum", {{"__name__", "job:rate5m:sum"}}));
  EXPECT_TRUE(Matches("_x", {{"__name__", "_x"}}));
  EXPECT_TRUE(Matches(":x", {{"__name__", ":x"}}));
}

TEST(SeriesFilterTest, EqualOperator) {
  EXPECT_TRUE(Matches("{job=\"api\"}", {{"__name__", "up"}, {"job", "api"}}));
  EXPECT_FALSE(Matches("{job=\"api\"}", {{"__name__", "up"}, {"job", "apis"}}));
  EXPECT_FALSE(Matches("{job=\"api\"}", {{"__name__", "up"}}));
}

TEST(SeriesFilterTest, NotEqualOperator) {
  EXPECT_TRUE(Matches("up{job!=\"api\"}", {{"__name__", "up"}, {"job", "web"}}));
  EXPECT_FALSE(Matches("up{job!=\"api\"}", {{"__name__", "up"}, {"job", "api"}}));
  EXPECT_TRUE(Matches("up{job!=\"api\"}", {{"__name__", "up"}}));  // "" != "api"
}

TEST(SeriesFilterTest, RegexMatchOperator) {
  EXPECT_TRUE(Matches("{job=~\"api|web\"}", {{"__name__", "up"}, {"job", "web"}}));
  EXPECT_FALSE(Matches("{job=~\"api|web\"}", {{"__name__", "up"}, {"job", "db"}}));
  EXPECT_TRUE(Matches("{job=~\"\\\\d+\"}", {{"__name__", "up"}, {"job", "123"}}));
  EXPECT_TRUE(Matches("{job=~\"(?i)API\"}", {{"__name__", "up"}, {"job", "api"}}));
  EXPECT_TRUE(Matches("{job=~\"\\\\pL+\"}", {{"__name__", "up"}, {"job", "éa"}}));
}

TEST(SeriesFilterTest, RegexNoMatchOperator) {
  EXPECT_TRUE(Matches("up{job!~\"api|web\"}", {{"__name__", "up"}, {"job", "db"}}));
  EXPECT_FALSE(Matches("up{job!~\"api|web\"}", {{"__name__", "up"}, {"job", "api"}}));
  EXPECT_TRUE(Matches("up{job!~\"api|web\"}", {{"__name__", "up"}}));
  EXPECT_TRUE(Matches("up{job!~\"ap\"}", {{"__name__", "up"}, {"job", "api"}}));  // anchored
}

TEST(SeriesFilterTest, RegexesAreFullyAnchored) {
  const std::string cpu = "{__name__=~\"node_cpu.*\"}";
  EXPECT_TRUE(Matches(cpu, {{"__name__", "node_cpu"}}));
  EXPECT_TRUE(Matches(cpu, {{"__name__", "node_cpu_seconds_total"}}));
  EXPECT_FALSE(Matches(cpu, {{"__name__", "xnode_cpu"}}));

  const std::string a_or_b = "up{x=~\"a|b\"}";
  EXPECT_TRUE(Matches(a_or_b, {{"__name__", "up"}, {"x", "a"}}));
  EXPECT_TRUE(Matches(a_or_b, {{"__name__", "up"}, {"x", "b"}}));
  for (const char* other : {"ab", "xa", "bx", "a|b", ""}) {
    EXPECT_FALSE(Matches(a_or_b, {{"__name__", "up"}, {"x", other}})) << other;
  }
  EXPECT_FALSE(Matches(a_or_b, {{"__name__", "up"}}));
}

TEST(SeriesFilterTest, RegexDotMatchesNewlineAsInPrometheus3) {
  EXPECT_TRUE(Matches("{x=~\"a.b\"}", {{"__name__", "up"}, {"x", "a\nb"}}));
}

TEST(SeriesFilterTest, RegexMatchingIsLinearTime) {
  const std::string many_a(20000, 'a');
  EXPECT_FALSE(Matches("{x=~\"(a+)+b\"}", {{"__name__", "up"}, {"x", many_a}}));
}

TEST(SeriesFilterTest, AbsentLabelIsTheEmptyString) {
  EXPECT_TRUE(Matches("up{foo=\"\"}", {{"__name__", "up"}}));
  EXPECT_FALSE(Matches("up{foo=\"\"}", {{"__name__", "up"}, {"foo", "x"}}));
  EXPECT_FALSE(Matches("{foo!=\"\"}", {{"__name__", "up"}}));
  EXPECT_TRUE(Matches("{foo!=\"\"}", {{"__name__", "up"}, {"foo", "x"}}));
  EXPECT_TRUE(Matches("up{foo=~\"x|\"}", {{"__name__", "up"}}));
  EXPECT_FALSE(Matches("{foo=~\".+\"}", {{"__name__", "up"}}));
  EXPECT_TRUE(Matches("{foo=~\".+\"}", {{"__name__", "up"}, {"a", "1"}, {"foo", "x"}, {"z", "2"}}));
}

TEST(SeriesFilterTest, SelectorsAreOred) {
  const std::vector<std::string> selectors = {"up", "{job=\"db\"}", "node_cpu{mode=~\"user|system\"}"};
  EXPECT_TRUE(MatchesAny(selectors, {{"__name__", "up"}, {"job", "web"}}));
  EXPECT_TRUE(MatchesAny(selectors, {{"__name__", "queries"}, {"job", "db"}}));
  EXPECT_TRUE(MatchesAny(selectors, {{"__name__", "node_cpu"}, {"mode", "user"}}));
  EXPECT_FALSE(MatchesAny(selectors, {{"__name__", "node_cpu"}, {"mode", "idle"}}));
  EXPECT_FALSE(MatchesAny(selectors, {{"__name__", "queries"}, {"job", "web"}}));
}

TEST(SeriesFilterTest, MetricNameWithMatchersNeedsAllOfThem) {
  const std::string selector = "up{job=\"a\",instance=~\".+:9100\"}";
  EXPECT_TRUE(Matches(selector, {{"__name__", "up"}, {"instance", "h:9100"}, {"job", "a"}}));
  EXPECT_FALSE(Matches(selector, {{"__name__", "down"}, {"instance", "h:9100"}, {"job", "a"}}));
  EXPECT_FALSE(Matches(selector, {{"__name__", "up"}, {"instance", "h:9090"}, {"job", "a"}}));
  EXPECT_FALSE(Matches(selector, {{"__name__", "up"}, {"instance", "h:9100"}}));
  EXPECT_TRUE(Matches("up{}", {{"__name__", "up"}}));
}

TEST(SeriesFilterTest, MetricNameMatchersInBraces) {
  EXPECT_TRUE(Matches("{__name__=\"up\"}", {{"__name__", "up"}}));
  EXPECT_FALSE(Matches("{__name__=\"up\"}", {{"__name__", "upx"}}));
  const std::string either = "{__name__=~\"up|down\", job=\"x\"}";
  EXPECT_TRUE(Matches(either, {{"__name__", "down"}, {"job", "x"}}));
  EXPECT_FALSE(Matches(either, {{"__name__", "down"}, {"job", "y"}}));
  EXPECT_TRUE(Matches("{__name__!=\"up\", job=\"x\"}", {{"__name__", "down"}, {"job", "x"}}));
  EXPECT_FALSE(Matches("{__name__!=\"up\", job=\"x\"}", {{"__name__", "up"}, {"job", "x"}}));
  EXPECT_FALSE(Matches("{__name__!~\"u.*\", job=\"x\"}", {{"__name__", "up"}, {"job", "x"}}));
}

TEST(SeriesFilterTest, WhitespaceAndTrailingComma) {
  const std::vector<Label> series = {{"__name__", "up"}, {"instance", "i"}, {"job", "a"}};
  EXPECT_TRUE(Matches(" up { job = \"a\" , instance != \"b\" , } ", series));
  EXPECT_TRUE(Matches("\tup\n{\r\njob=~`a`,\n}\n", series));
  EXPECT_TRUE(Matches("up{job=\"a\",}", series));
  EXPECT_TRUE(Matches("{ job = 'a' }", series));
}

TEST(SeriesFilterTest, QuotingStyles) {
  const std::vector<Label> series = {{"__name__", "up"}, {"x", "a\"b'c"}};
  EXPECT_TRUE(Matches(R"({x="a\"b'c"})", series));
  EXPECT_TRUE(Matches(R"({x='a"b\'c'})", series));
  EXPECT_TRUE(Matches("{x=`a\"b'c`}", series));
}

TEST(SeriesFilterTest, GoEscapes) {
  EXPECT_TRUE(Matches(R"({x="\a\b\f\n\r\t\v\\"})", {{"__name__", "up"}, {"x", "\a\b\f\n\r\t\v\\"}}));
  EXPECT_TRUE(Matches(R"({x='\n\t'})", {{"__name__", "up"}, {"x", "\n\t"}}));
  EXPECT_TRUE(Matches(R"({x="\x41\101\u00e9\U0001F600"})", {{"__name__", "up"}, {"x", "AAé😀"}}));
  EXPECT_TRUE(Matches(R"({x="\xff\377"})", {{"__name__", "up"}, {"x", "\xff\xff"}}));  // bytes, as Go
  EXPECT_TRUE(Matches(R"({x="é"})", {{"__name__", "up"}, {"x", "é"}}));
}

TEST(SeriesFilterTest, RawStringsKeepBackslashesAndNewlines) {
  EXPECT_TRUE(Matches(R"({x=`a\nb`})", {{"__name__", "up"}, {"x", "a\\nb"}}));
  EXPECT_TRUE(Matches("{x=`a\nb`}", {{"__name__", "up"}, {"x", "a\nb"}}));
}

TEST(SeriesFilterTest, RegexEscapesThroughStrings) {
  // The string escape yields a\.b, so the regex matches only a literal dot.
  for (const std::string selector : {R"({x=~"a\\.b"})", R"({x=~`a\.b`})"}) {
    EXPECT_TRUE(Matches(selector, {{"__name__", "up"}, {"x", "a.b"}})) << selector;
    EXPECT_FALSE(Matches(selector, {{"__name__", "up"}, {"x", "axb"}})) << selector;
  }
}

TEST(SeriesFilterTest, NeedsOneMatcherThatRejectsTheEmptyString) {
  for (const char* accepted : {"up", "{a!=\"\"}", "{a=~\".+\"}", "{a!~\".*\"}", "{a=\"x\", b=\"\"}",
                               "{a=~\"x\"}"}) {
    EXPECT_EQ(ParseError(accepted), "(parsed)") << accepted;
  }
  for (const char* rejected : {"{}", "{a=\"\"}", "{a=~\".*\"}", "{a!=\"x\"}", "{a!~\"x\"}",
                               "{a=~\"x|\"}", "{a=\"\", b!=\"y\",}"}) {
    EXPECT_EQ(Problem(rejected), "vector selector must contain at least one non-empty matcher")
        << rejected;
  }
  EXPECT_EQ(ParseError("{a=\"\"}"),
            "invalid series selector '{a=\"\"}': vector selector must contain at least one "
            "non-empty matcher");
}

TEST(SeriesFilterTest, EmptySelector) {
  EXPECT_EQ(ParseError(""), "invalid series selector '': empty selector");
  EXPECT_EQ(ParseError(" \t\n"), "invalid series selector ' \\t\\n': empty selector");
}

TEST(SeriesFilterTest, UnterminatedStrings) {
  EXPECT_EQ(ParseError("up{job=\"a}"),
            "invalid series selector 'up{job=\"a}' at column 8: unterminated quoted string");
  EXPECT_EQ(ParseError("up{job='a}"),
            "invalid series selector 'up{job='a}' at column 8: unterminated quoted string");
  EXPECT_EQ(ParseError("up{job=`a}"),
            "invalid series selector 'up{job=`a}' at column 8: unterminated raw string");
  EXPECT_EQ(Problem("up{job=\"a\nb\"}"), "unterminated quoted string");
  EXPECT_EQ(ParseError("up{job=\"a\\"),
            "invalid series selector 'up{job=\"a\\' at column 10: unterminated quoted string");
}

TEST(SeriesFilterTest, BadOperators) {
  EXPECT_EQ(ParseError("up{job==\"a\"}"),
            "invalid series selector 'up{job==\"a\"}' at column 7: unknown matching operator '==' "
            "(expected =, !=, =~ or !~)");
  for (const char* bad : {"up{job<\"a\"}", "up{job!\"a\"}", "up{job~\"a\"}", "up{job=~~\"a\"}",
                          "up{job!==\"a\"}", "up{job>=\"a\"}"}) {
    EXPECT_THAT(Problem(bad), StartsWith("unknown matching operator '")) << bad;
  }
  EXPECT_EQ(ParseError("up{job \"a\"}"),
            "invalid series selector 'up{job \"a\"}' at column 8: expected a matching operator "
            "(=, !=, =~ or !~) after label name 'job', found '\"'");
  EXPECT_EQ(Problem("up{a:b=\"x\"}"),
            "expected a matching operator (=, !=, =~ or !~) after label name 'a', found ':'");
  EXPECT_EQ(Problem("up{a-b=\"x\"}"),
            "expected a matching operator (=, !=, =~ or !~) after label name 'a', found '-'");
  EXPECT_EQ(Problem("up{job"),
            "expected a matching operator (=, !=, =~ or !~) after label name 'job', found end of "
            "selector");
}

TEST(SeriesFilterTest, UnquotedValue) {
  EXPECT_EQ(ParseError("up{job=a}"),
            "invalid series selector 'up{job=a}' at column 8: expected a quoted label value "
            "(\"...\", '...' or `...`) after '=', found 'a'");
  EXPECT_THAT(Problem("up{job!~}"), HasSubstr("after '!~', found '}'"));
  EXPECT_THAT(Problem("up{job="), HasSubstr("found end of selector"));
}

TEST(SeriesFilterTest, BadBracesAndLabelNames) {
  EXPECT_EQ(ParseError("up{job=\"a\""),
            "invalid series selector 'up{job=\"a\"' at column 11: missing closing '}'");
  EXPECT_EQ(Problem("{"), "missing closing '}'");
  EXPECT_EQ(Problem("up{job=\"a\","), "missing closing '}'");
  EXPECT_EQ(ParseError("up{job=\"a\" instance=\"b\"}"),
            "invalid series selector 'up{job=\"a\" instance=\"b\"}' at column 12: expected ',' or "
            "'}' after a label matcher, found 'i'");
  EXPECT_EQ(Problem("up{,}"), "expected a label name or '}', found ','");
  EXPECT_EQ(Problem("up{job=\"a\",,}"), "expected a label name or '}', found ','");
  EXPECT_EQ(Problem("up{1a=\"x\"}"), "expected a label name or '}', found '1'");
  EXPECT_EQ(Problem("up{\"job\"=\"x\"}"), "expected a label name or '}', found '\"'");
}

TEST(SeriesFilterTest, BadMetricNamesAndTrailingText) {
  EXPECT_EQ(ParseError("1up"), "invalid series selector '1up' at column 1: expected a metric name "
                               "or '{', found '1'");
  EXPECT_EQ(Problem("\"up\""), "expected a metric name or '{', found '\"'");
  EXPECT_EQ(ParseError("up}"),
            "invalid series selector 'up}' at column 3: unexpected '}' after the selector");
  EXPECT_EQ(Problem("up{a=\"b\"}[5m]"), "unexpected '[' after the selector");
  EXPECT_EQ(Problem("up offset 5m"), "unexpected 'o' after the selector");
  EXPECT_EQ(Problem("up{a=\"b\"} {c=\"d\"}"), "unexpected '{' after the selector");
  EXPECT_EQ(Problem("rate(up[5m])"), "unexpected '(' after the selector");
  EXPECT_EQ(Problem("up-down"), "unexpected '-' after the selector");
  EXPECT_EQ(ParseError("föo"),
            "invalid series selector 'föo' at column 2: unexpected 'ö' after the selector");
}

TEST(SeriesFilterTest, MetricNameSetTwice) {
  EXPECT_EQ(ParseError("up{__name__=\"down\"}"),
            "invalid series selector 'up{__name__=\"down\"}' at column 4: metric name must not be "
            "set twice: 'up' and 'down'");
  EXPECT_THAT(Problem("up{job=\"a\", __name__=~\"x.*\"}"),
              StartsWith("metric name must not be set twice"));
}

TEST(SeriesFilterTest, InvalidRegularExpressions) {
  EXPECT_EQ(ParseError("{a=~\"(\"}"),
            "invalid series selector '{a=~\"(\"}' at column 5: invalid regular expression: "
            "missing ): (");
  // Checked on its own, so it cannot close the anchoring group and escape it.
  EXPECT_THAT(Problem("{a=~\"a)|(b\"}"), StartsWith("invalid regular expression: "));
  EXPECT_THAT(Problem("{a!~\"x**\"}"), StartsWith("invalid regular expression: bad repetition"));
  EXPECT_THAT(Problem("{a=~`[z-a]`}"), StartsWith("invalid regular expression: "));
  EXPECT_THAT(Problem("{a=~`\\q`}"), StartsWith("invalid regular expression: "));
}

TEST(SeriesFilterTest, BadEscapes) {
  EXPECT_EQ(ParseError(R"({a="\q"})"),
            R"(invalid series selector '{a="\q"}' at column 5: unknown escape sequence '\q')");
  EXPECT_EQ(Problem(R"({a="\'"})"), R"(unknown escape sequence '\'')");
  EXPECT_EQ(Problem(R"({a='\"'})"), R"(unknown escape sequence '\"')");
  EXPECT_EQ(Problem(R"({a="\é"})"), R"(unknown escape sequence '\é')");
  EXPECT_EQ(Problem(R"({a="\x4"})"), R"(escape sequence \x4 needs 2 hexadecimal digits)");
  EXPECT_EQ(Problem(R"({a="\u12"})"), R"(escape sequence \u12 needs 4 hexadecimal digits)");
  EXPECT_EQ(Problem(R"({a="\U0001F60"})"), R"(escape sequence \U0001F60 needs 8 hexadecimal digits)");
  EXPECT_EQ(Problem(R"({a="\18"})"), R"(escape sequence \1 needs 3 octal digits)");
  EXPECT_EQ(Problem(R"({a="\400"})"), R"(octal escape value > 255: \400)");
  EXPECT_EQ(Problem(R"({a="\uD800"})"), R"(escape sequence \uD800 is not a valid Unicode code point)");
  EXPECT_EQ(Problem(R"({a="\U00110000"})"),
            R"(escape sequence \U00110000 is not a valid Unicode code point)");
}

TEST(SeriesFilterTest, InvalidUtf8) {
  EXPECT_EQ(ParseError("up{a=\"\xff\"}"),
            "invalid series selector 'up{a=\"\\xff\"}' at column 7: invalid UTF-8");
}

TEST(SeriesFilterTest, ErrorsAreOneLineAndNameTheFailingSelector) {
  std::string error;
  EXPECT_EQ(SeriesFilter::Parse({"up", "{job=\"a\"}", "{job=\"\",\n}"}, &error), nullptr);
  EXPECT_EQ(error, "invalid series selector '{job=\"\",\\n}': vector selector must contain at "
                   "least one non-empty matcher");
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_EQ(ParseError("up\x01"),
            "invalid series selector 'up\\x01' at column 3: unexpected '\\x01' after the selector");
}

TEST(SeriesFilterTest, ConcurrentMatches) {
  std::unique_ptr<SeriesFilter> filter =
      MustParse({"{job=~\"api-[0-9]+\"}", "node_cpu{mode!~\"idle|iowait\"}"});
  ASSERT_NE(filter, nullptr);
  const std::vector<Label> api = {{"__name__", "up"}, {"job", "api-12"}};
  const std::vector<Label> idle = {{"__name__", "node_cpu"}, {"mode", "idle"}};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; i++) {
        if (!filter->Matches(api) || filter->Matches(idle)) wrong++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace prom2gcm
