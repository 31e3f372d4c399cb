#include "integration/gcm_emulator/series_filter.h"

#include <cctype>

namespace prom2gcm::emulator {
namespace {

bool LabelsMatch(const std::map<std::string, std::string>& wanted,
                 const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [name, value] : wanted) {
    auto it = labels.find(name);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

constexpr size_t kMaxSelectorLength = 256;

bool HasPrefix(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool IsSelectorChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

// Reads the filter left to right: selector, '=', quoted value, then optionally AND and again.
class FilterParser {
 public:
  FilterParser(std::string_view text, SeriesFilter* filter) : text_(text), filter_(filter) {}

  bool Parse(std::string* error) {
    SkipSpaces();
    if (pos_ == text_.size()) return true;  // an empty filter selects everything
    do {
      if (!ParseTerm()) break;
    } while (ConsumeWord("AND"));
    SkipSpaces();
    if (error_.empty() && pos_ != text_.size()) Fail("unexpected text");
    if (error_.empty()) return true;
    *error = error_;
    return false;
  }

 private:
  bool ParseTerm() {
    const std::string selector = ReadSelector();
    if (selector.size() > kMaxSelectorLength) return Fail("selector too long");
    if (selector.empty()) return Fail("expected a selector such as metric.type");
    SkipSpaces();
    if (pos_ >= text_.size() || text_[pos_] != '=') return Fail("expected '=' after " + selector);
    ++pos_;
    std::string value;
    if (!ReadQuoted(&value)) return Fail("expected a quoted value after " + selector + " =");
    return Assign(selector, value);
  }

  bool Assign(const std::string& selector, const std::string& value) {
    if (selector == "metric.type") return Set(&filter_->metric_type, selector, value);
    if (selector == "resource.type") return Set(&filter_->resource_type, selector, value);
    if (selector == "project") return Set(&filter_->project, selector, value);
    for (std::string_view prefix : {"metric.labels.", "metric.label."}) {
      if (HasPrefix(selector, prefix)) return SetLabel(&filter_->metric_labels, selector, prefix, value);
    }
    for (std::string_view prefix : {"resource.labels.", "resource.label."}) {
      if (HasPrefix(selector, prefix)) return SetLabel(&filter_->resource_labels, selector, prefix, value);
    }
    return Fail("unsupported selector " + selector);
  }

  bool Set(std::string* field, const std::string& selector, const std::string& value) {
    if (!field->empty()) return Fail(selector + " given twice");
    *field = value;
    return true;
  }

  bool SetLabel(std::map<std::string, std::string>* labels, const std::string& selector, std::string_view prefix,
                const std::string& value) {
    const std::string name = selector.substr(prefix.size());
    if (name.empty()) return Fail("missing label name in " + selector);
    if (!labels->emplace(name, value).second) return Fail(selector + " given twice");
    return true;
  }

  std::string ReadSelector() {
    SkipSpaces();
    const size_t start = pos_;
    while (pos_ < text_.size() && IsSelectorChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  bool ReadQuoted(std::string* value) {
    SkipSpaces();
    if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\'')) return false;
    const char quote = text_[pos_++];
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      value->push_back(text_[pos_++]);
    }
    if (pos_ >= text_.size()) return false;
    ++pos_;  // the closing quote
    return true;
  }

  bool ConsumeWord(std::string_view word) {
    if (!error_.empty()) return false;
    SkipSpaces();
    if (!HasPrefix(text_.substr(pos_), word)) return false;
    const size_t after = pos_ + word.size();
    if (after < text_.size() && !std::isspace(static_cast<unsigned char>(text_[after]))) return false;
    pos_ = after;
    return true;
  }

  void SkipSpaces() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return false;
  }

  const std::string_view text_;
  SeriesFilter* const filter_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

bool SeriesFilter::Matches(const StoredSeries& series) const {
  if (!metric_type.empty() && series.metric.type() != metric_type) return false;
  if (!resource_type.empty() && series.resource.type() != resource_type) return false;
  if (!project.empty()) {
    auto it = series.resource.labels().find("project_id");
    if (it == series.resource.labels().end() || it->second != project) return false;
  }
  return LabelsMatch(metric_labels, series.metric.labels()) && LabelsMatch(resource_labels, series.resource.labels());
}

bool ParseSeriesFilter(std::string_view text, SeriesFilter* filter, std::string* error) {
  return FilterParser(text, filter).Parse(error);
}

}  // namespace prom2gcm::emulator
