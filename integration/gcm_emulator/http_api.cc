#include "integration/gcm_emulator/http_api.h"

#include <httplib.h>

#include "integration/gcm_emulator/fault_params.h"
#include "integration/gcm_emulator/json_views.h"
#include "integration/gcm_emulator/json_writer.h"
#include "integration/gcm_emulator/series_filter.h"
#include "server/http_server.h"  // BindListenAddress

namespace prom2gcm::emulator {
namespace {

constexpr char kJson[] = "application/json";
constexpr int kWorkerThreads = 4;

void ReplyError(int status, const std::string& message, httplib::Response& res) {
  JsonWriter json;
  json.BeginObject();
  json.Member("error", message);
  json.EndObject();
  res.status = status;
  res.set_content(json.text(), kJson);
}

// The filter from ?metric_type= and ?filter= (both optional).
bool FilterFromParams(const httplib::Request& req, SeriesFilter* filter, std::string* error) {
  if (req.has_param("filter") && !ParseSeriesFilter(req.get_param_value("filter"), filter, error)) return false;
  if (!req.has_param("metric_type")) return true;
  if (!filter->metric_type.empty()) {
    *error = "give the metric type in metric_type or in filter, not both";
    return false;
  }
  filter->metric_type = req.get_param_value("metric_type");
  return true;
}

}  // namespace

HttpApi::HttpApi(bool sink, SeriesStore* store, FaultInjector* faults, EmulatorStats* stats)
    : sink_(sink), store_(store), faults_(faults), stats_(stats), server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  RouteData();
  RouteFaults();
  RouteHealth();
}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::RouteData() {
  server_->Get("/v1/timeseries", [this](const httplib::Request& req, httplib::Response& res) {
    SeriesFilter filter;
    std::string error;
    if (!FilterFromParams(req, &filter, &error)) return ReplyError(400, error, res);
    res.set_content(TimeSeriesJson(store_->Find([&filter](const StoredSeries& s) { return filter.Matches(s); })),
                    kJson);
  });
  server_->Delete("/v1/timeseries", [this](const httplib::Request&, httplib::Response& res) {
    store_->Clear();
    res.set_content(TimeSeriesJson({}), kJson);
  });
  server_->Get("/v1/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatsJson(stats_->Snapshot(), store_->series_count(), sink_), kJson);
  });
}

void HttpApi::RouteFaults() {
  server_->Get("/v1/faults", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(FaultsJson(faults_->settings()), kJson);
  });
  server_->Post("/v1/faults", [this](const httplib::Request& req, httplib::Response& res) {
    FaultUpdate update;
    std::string error;
    if (!ParseFaultParams(req.params, WallClockNow(), &update, &error)) return ReplyError(400, error, res);
    faults_->Apply(update);
    res.set_content(FaultsJson(faults_->settings()), kJson);
  });
  server_->Delete("/v1/faults", [this](const httplib::Request&, httplib::Response& res) {
    faults_->Clear();
    res.set_content(FaultsJson(faults_->settings()), kJson);
  });
}

void HttpApi::RouteHealth() {
  server_->Get("/-/ready", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("gcm-emulator is Ready.\n", "text/plain");
  });
  server_->Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("gcm-emulator is Healthy.\n", "text/plain");
  });
  // httplib answers 400 itself to a POST without Content-Length (curl -X POST without -d).
  server_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 400 || !res.body.empty()) return;
    ReplyError(
        400,
        req.method == "POST" ? "bad request: a POST needs a body or Content-Length: 0 (curl -d '')" : "bad request",
        res);
  });
}

bool HttpApi::Bind(const std::string& address, std::string* error) {
  return BindListenAddress(*server_, address, &port_, error);
}

bool HttpApi::is_running() const { return server_->is_running(); }

void HttpApi::Serve() { server_->listen_after_bind(); }

void HttpApi::Stop() { server_->stop(); }

}  // namespace prom2gcm::emulator
