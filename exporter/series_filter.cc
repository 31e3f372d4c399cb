#include "exporter/series_filter.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include <re2/re2.h>

namespace prom2gcm {
namespace {

constexpr std::string_view kMetricNameLabel = "__name__";
constexpr size_t kNoPosition = std::string_view::npos;

enum class MatchOp { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

bool IsRegexOp(MatchOp op) { return op == MatchOp::kRegexMatch || op == MatchOp::kRegexNoMatch; }

// One matcher of a selector. A label the series lacks is matched as the empty string.
struct LabelMatcher {
  std::string name;
  MatchOp op;
  std::string value;
  std::unique_ptr<RE2> regex;  // the anchored value, for the two regex operators

  bool Matches(std::string_view label_value) const {
    switch (op) {
      case MatchOp::kEqual:
        return label_value == value;
      case MatchOp::kNotEqual:
        return label_value != value;
      case MatchOp::kRegexMatch:
        return RE2::FullMatch(label_value, *regex);
      case MatchOp::kRegexNoMatch:
        return !RE2::FullMatch(label_value, *regex);
    }
    return false;
  }
};

// The value of label `name` in labels sorted by name, or "" when the series lacks it.
std::string_view ValueOf(std::span<const Label> labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const Label& label, std::string_view n) { return label.name < n; });
  return it != labels.end() && it->name == name ? it->value : std::string_view();
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsLetterOrUnderscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLabelNameStart(char c) { return IsLetterOrUnderscore(c); }
bool IsLabelNameChar(char c) { return IsLetterOrUnderscore(c) || IsDigit(c); }
bool IsMetricNameStart(char c) { return IsLetterOrUnderscore(c) || c == ':'; }
bool IsMetricNameChar(char c) { return IsLabelNameChar(c) || c == ':'; }
bool IsOperatorChar(char c) { return c == '=' || c == '!' || c == '~' || c == '<' || c == '>'; }

// The length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t code_point, smallest;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, smallest = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; k++) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  return code_point < smallest || code_point > 0x10FFFF || surrogate ? 0 : length;
}

// Appends text with control characters, DEL and invalid UTF-8 escaped, so it prints on one line.
void AppendPrintable(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t length = Utf8SequenceLength(text, i);
    if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (length == 0 || (length == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f))) {
      const auto byte = static_cast<unsigned char>(c);
      out->append({'\\', 'x', kHex[byte >> 4], kHex[byte & 0xF]});
    } else {
      out->append(text.substr(i, length));
    }
    i += length == 0 ? 1 : length;
  }
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;  // a digit in no base
}

// Parses one selector into the matchers that must all hold. On failure error() says what is wrong
// and error_position() where (kNoPosition when it concerns the selector as a whole).
class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  bool Parse(std::vector<LabelMatcher>* matchers);

  const std::string& error() const { return error_; }
  size_t error_position() const { return error_position_; }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void SkipSpace();
  std::string_view ScanWhile(bool (*accept)(char));
  // The (UTF-8) character at pos < text_.size(), printable.
  std::string CharAt(size_t pos) const;
  // The character at pos, quoted and printable, or "end of selector".
  std::string Describe(size_t pos) const;

  bool ParseMatchers(std::vector<LabelMatcher>* matchers);
  bool ParseMatcher(std::vector<LabelMatcher>* matchers);
  bool ParseOperator(std::string_view label_name, MatchOp* op);
  bool ParseString(std::string_view op, std::string* value);
  bool ParseQuoted(std::string* value);
  bool ParseRaw(std::string* value);
  bool ParseEscape(char quote, std::string* value);
  bool ParseDigits(size_t start, int count, int base, uint32_t* value);
  bool AddMatcher(std::string name, MatchOp op, std::string value, size_t value_pos,
                  std::vector<LabelMatcher>* matchers);

  bool Fail(size_t pos, std::string problem);  // always false

  const std::string_view text_;
  size_t pos_ = 0;
  std::string metric_name_;  // the name written outside braces, if any
  std::string error_;
  size_t error_position_ = kNoPosition;
};

bool SelectorParser::Fail(size_t pos, std::string problem) {
  error_ = std::move(problem);
  error_position_ = pos;
  return false;
}

void SelectorParser::SkipSpace() {
  while (!AtEnd() && IsSpace(text_[pos_])) pos_++;
}

std::string_view SelectorParser::ScanWhile(bool (*accept)(char)) {
  const size_t start = pos_;
  while (!AtEnd() && accept(text_[pos_])) pos_++;
  return text_.substr(start, pos_ - start);
}

std::string SelectorParser::CharAt(size_t pos) const {
  const size_t length = std::max<size_t>(Utf8SequenceLength(text_, pos), 1);
  std::string printable;
  AppendPrintable(text_.substr(pos, length), &printable);
  return printable;
}

std::string SelectorParser::Describe(size_t pos) const {
  return pos < text_.size() ? "'" + CharAt(pos) + "'" : "end of selector";
}

bool SelectorParser::Parse(std::vector<LabelMatcher>* matchers) {
  for (size_t i = 0, length; i < text_.size(); i += length) {
    length = Utf8SequenceLength(text_, i);
    if (length == 0) return Fail(i, "invalid UTF-8");
  }
  SkipSpace();
  if (AtEnd()) return Fail(kNoPosition, "empty selector");
  if (IsMetricNameStart(Peek())) {
    metric_name_ = std::string(ScanWhile(IsMetricNameChar));
    matchers->push_back({std::string(kMetricNameLabel), MatchOp::kEqual, metric_name_, nullptr});
    SkipSpace();
  } else if (Peek() != '{') {
    return Fail(pos_, "expected a metric name or '{', found " + Describe(pos_));
  }
  if (Peek() == '{' && !ParseMatchers(matchers)) return false;
  SkipSpace();
  if (!AtEnd()) return Fail(pos_, "unexpected " + Describe(pos_) + " after the selector");
  const bool has_non_empty_matcher = std::any_of(
      matchers->begin(), matchers->end(), [](const LabelMatcher& m) { return !m.Matches(""); });
  if (!has_non_empty_matcher) {
    return Fail(kNoPosition, "vector selector must contain at least one non-empty matcher");
  }
  return true;
}

bool SelectorParser::ParseMatchers(std::vector<LabelMatcher>* matchers) {
  pos_++;  // '{'
  for (;;) {
    SkipSpace();
    if (AtEnd()) return Fail(pos_, "missing closing '}'");
    if (Peek() == '}') break;  // also after a trailing comma
    if (!ParseMatcher(matchers)) return false;
    SkipSpace();
    if (Peek() == ',') {
      pos_++;
    } else if (Peek() == '}') {
      break;
    } else if (AtEnd()) {
      return Fail(pos_, "missing closing '}'");
    } else {
      return Fail(pos_, "expected ',' or '}' after a label matcher, found " + Describe(pos_));
    }
  }
  pos_++;  // '}'
  return true;
}

bool SelectorParser::ParseMatcher(std::vector<LabelMatcher>* matchers) {
  const size_t name_pos = pos_;
  if (!IsLabelNameStart(Peek())) {
    return Fail(pos_, "expected a label name or '}', found " + Describe(pos_));
  }
  std::string name(ScanWhile(IsLabelNameChar));
  SkipSpace();
  MatchOp op;
  const size_t op_pos = pos_;
  if (!ParseOperator(name, &op)) return false;
  const std::string_view op_text = text_.substr(op_pos, pos_ - op_pos);
  SkipSpace();
  const size_t value_pos = pos_;
  std::string value;
  if (!ParseString(op_text, &value)) return false;
  if (name == kMetricNameLabel && !metric_name_.empty()) {
    std::string problem = "metric name must not be set twice: '" + metric_name_ + "' and '";
    AppendPrintable(value, &problem);
    return Fail(name_pos, problem + "'");
  }
  return AddMatcher(std::move(name), op, std::move(value), value_pos, matchers);
}

bool SelectorParser::ParseOperator(std::string_view label_name, MatchOp* op) {
  const size_t start = pos_;
  const std::string_view text = ScanWhile(IsOperatorChar);
  if (text == "=") {
    *op = MatchOp::kEqual;
  } else if (text == "!=") {
    *op = MatchOp::kNotEqual;
  } else if (text == "=~") {
    *op = MatchOp::kRegexMatch;
  } else if (text == "!~") {
    *op = MatchOp::kRegexNoMatch;
  } else if (text.empty()) {
    return Fail(start, "expected a matching operator (=, !=, =~ or !~) after label name '" +
                           std::string(label_name) + "', found " + Describe(start));
  } else {
    return Fail(start, "unknown matching operator '" + std::string(text) +
                           "' (expected =, !=, =~ or !~)");
  }
  return true;
}

bool SelectorParser::ParseString(std::string_view op, std::string* value) {
  switch (Peek()) {
    case '"':
    case '\'':
      return ParseQuoted(value);
    case '`':
      return ParseRaw(value);
    default:
      return Fail(pos_, "expected a quoted label value (\"...\", '...' or `...`) after '" +
                            std::string(op) + "', found " + Describe(pos_));
  }
}

bool SelectorParser::ParseQuoted(std::string* value) {
  const size_t open = pos_;
  const char quote = text_[pos_++];
  for (;;) {
    if (AtEnd() || Peek() == '\n') return Fail(open, "unterminated quoted string");
    const char c = text_[pos_];
    if (c == quote) break;
    if (c == '\\') {
      if (!ParseEscape(quote, value)) return false;
    } else {
      value->push_back(c);
      pos_++;
    }
  }
  pos_++;  // the closing quote
  return true;
}

bool SelectorParser::ParseRaw(std::string* value) {
  const size_t open = pos_;
  const size_t close = text_.find('`', open + 1);
  if (close == std::string_view::npos) return Fail(open, "unterminated raw string");
  value->append(text_.substr(open + 1, close - open - 1));
  pos_ = close + 1;
  return true;
}

// Go's escapes: single characters, \NNN octal and \xHH (one byte each), \uHHHH and \UHHHHHHHH
// (a code point, written as UTF-8).
bool SelectorParser::ParseEscape(char quote, std::string* value) {
  const size_t start = pos_++;  // the backslash
  if (AtEnd() || Peek() == '\n') return Fail(start, "unterminated quoted string");
  const char c = text_[pos_++];
  uint32_t code;
  switch (c) {
    case 'a': value->push_back('\a'); return true;
    case 'b': value->push_back('\b'); return true;
    case 'f': value->push_back('\f'); return true;
    case 'n': value->push_back('\n'); return true;
    case 'r': value->push_back('\r'); return true;
    case 't': value->push_back('\t'); return true;
    case 'v': value->push_back('\v'); return true;
    case '\\': value->push_back('\\'); return true;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
      pos_--;  // the first of the three digits
      if (!ParseDigits(start, 3, 8, &code)) return false;
      if (code > 0xFF) {
        const std::string escape(text_.substr(start, pos_ - start));
        return Fail(start, "octal escape value > 255: " + escape);
      }
      value->push_back(static_cast<char>(code));
      return true;
    case 'x':
      if (!ParseDigits(start, 2, 16, &code)) return false;
      value->push_back(static_cast<char>(code));
      return true;
    case 'u':
    case 'U':
      if (!ParseDigits(start, c == 'u' ? 4 : 8, 16, &code)) return false;
      if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        const std::string escape(text_.substr(start, pos_ - start));
        return Fail(start, "escape sequence " + escape + " is not a valid Unicode code point");
      }
      AppendUtf8(code, value);
      return true;
    default:
      if (c == quote) {
        value->push_back(c);
        return true;
      }
      return Fail(start, "unknown escape sequence '\\" + CharAt(start + 1) + "'");
  }
}

// Reads exactly count digits in base into *value; the escape began at start.
bool SelectorParser::ParseDigits(size_t start, int count, int base, uint32_t* value) {
  *value = 0;
  for (int i = 0; i < count; i++) {
    const int digit = AtEnd() ? 99 : DigitValue(text_[pos_]);
    if (digit >= base) {
      const std::string escape(text_.substr(start, pos_ - start));
      return Fail(start, "escape sequence " + escape + " needs " + std::to_string(count) +
                             (base == 8 ? " octal" : " hexadecimal") + " digits");
    }
    *value = *value * base + digit;
    pos_++;
  }
  return true;
}

bool SelectorParser::AddMatcher(std::string name, MatchOp op, std::string value, size_t value_pos,
                                std::vector<LabelMatcher>* matchers) {
  std::unique_ptr<RE2> regex;
  if (IsRegexOp(op)) {
    RE2::Options options;
    options.set_log_errors(false);
    // Compiled alone first, so that e.g. "a)|(b" cannot escape the anchoring group below.
    const RE2 alone(value, options);
    if (!alone.ok()) return Fail(value_pos, "invalid regular expression: " + alone.error());
    // Prometheus' anchoring; (?s) lets '.' match a newline, as in Prometheus 3.
    regex = std::make_unique<RE2>("^(?s:" + value + ")$", options);
    if (!regex->ok()) return Fail(value_pos, "invalid regular expression: " + regex->error());
  }
  matchers->push_back({std::move(name), op, std::move(value), std::move(regex)});
  return true;
}

}  // namespace

struct SeriesFilter::Selector {
  std::vector<LabelMatcher> matchers;

  bool Matches(std::span<const Label> labels) const {
    return std::all_of(matchers.begin(), matchers.end(), [labels](const LabelMatcher& m) {
      return m.Matches(ValueOf(labels, m.name));
    });
  }
};

std::unique_ptr<SeriesFilter> SeriesFilter::Parse(const std::vector<std::string>& selectors,
                                                  std::string* error) {
  std::vector<Selector> parsed;
  for (const std::string& text : selectors) {
    SelectorParser parser(text);
    Selector selector;
    if (!parser.Parse(&selector.matchers)) {
      *error = "invalid series selector '";
      AppendPrintable(text, error);
      *error += "'";
      if (parser.error_position() != kNoPosition) {
        *error += " at column " + std::to_string(parser.error_position() + 1);
      }
      *error += ": " + parser.error();
      return nullptr;
    }
    parsed.push_back(std::move(selector));
  }
  return std::unique_ptr<SeriesFilter>(new SeriesFilter(std::move(parsed)));
}

SeriesFilter::SeriesFilter(std::vector<Selector> selectors) : selectors_(std::move(selectors)) {}

SeriesFilter::~SeriesFilter() = default;

bool SeriesFilter::Matches(std::span<const Label> labels) const {
  if (selectors_.empty()) return true;
  return std::any_of(selectors_.begin(), selectors_.end(),
                     [labels](const Selector& s) { return s.Matches(labels); });
}

}  // namespace prom2gcm
