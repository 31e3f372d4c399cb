// A remote-write sink that answers every POST 204 and counts bytes: the far end of vmagent in
// bench/compare, so vmagent is measured forwarding, as prom2gcm is measured exporting.
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  httplib::Server server;
  std::atomic<uint64_t> requests{0}, bytes{0};
  server.Post("/api/v1/write", [&](const httplib::Request& req, httplib::Response& res) {
    requests++;
    bytes += req.body.size();
    res.status = 204;
  });
  server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"requests\":" + std::to_string(requests.load()) + ",\"bytes\":" + std::to_string(bytes.load()) +
                        "}",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::printf("sink204 port=%d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
