// SeriesFilter decides which series are exported (--export.match): it holds a list of Prometheus
// series selectors and matches a series when ANY of them matches it; with no selectors it matches
// every series. A selector is written as in PromQL:
//
//   selector  = metric_name [ "{" [ matchers ] "}" ] | "{" [ matchers ] "}"
//   matchers  = matcher { "," matcher } [ "," ]
//   matcher   = label_name ( "=" | "!=" | "=~" | "!~" ) string
//
// metric_name is [a-zA-Z_:][a-zA-Z0-9_:]*, label_name is [a-zA-Z_][a-zA-Z0-9_]*, and a string is
// "..." or '...' with Go escapes (\a \b \f \n \r \t \v \\ \" or \' for its own quote, \NNN octal,
// \xHH, \uHHHH, \UHHHHHHHH) or `...` raw. Whitespace may separate tokens. Matching is Prometheus':
// a label the series lacks has the value "", and regular expressions (RE2, Go's syntax) are fully
// anchored as ^(?s:re)$. As in Prometheus, a selector needs at least one matcher that does not
// match the empty string, and a metric name outside braces excludes a __name__ matcher inside.
//
// Owns the parsed matchers and their compiled regular expressions. Thread-safety: immutable after
// Parse; Matches may be called concurrently from any number of threads.
#ifndef PROM2GCM_EXPORTER_SERIES_FILTER_H_
#define PROM2GCM_EXPORTER_SERIES_FILTER_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/decoded_request.h"

namespace prom2gcm {

class SeriesFilter {
 public:
  // Parses every selector. On a syntax error returns null and sets *error (must not be null) to a
  // one-line message naming the selector, the column (1-based, in bytes) and the problem.
  static std::unique_ptr<SeriesFilter> Parse(const std::vector<std::string>& selectors,
                                             std::string* error);

  ~SeriesFilter();
  SeriesFilter(const SeriesFilter&) = delete;
  SeriesFilter& operator=(const SeriesFilter&) = delete;

  // labels: the series' labels sorted by name, __name__ included.
  bool Matches(std::span<const Label> labels) const;

 private:
  struct Selector;  // the matchers of one selector, all of which must match

  explicit SeriesFilter(std::vector<Selector> selectors);

  const std::vector<Selector> selectors_;
};

}  // namespace prom2gcm

#endif  // PROM2GCM_EXPORTER_SERIES_FILTER_H_
