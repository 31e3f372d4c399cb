// The gcm-emulator binary end to end: started on free ports, it prints them on its first stdout
// line, serves HTTP and gRPC, and exits 0 on SIGTERM.
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "integration/gcm_emulator/emulator_test_env.h"

namespace prom2gcm::emulator::testing {
namespace {

// A gcm-emulator child process with its stdout on a pipe; killed on destruction if still running.
class EmulatorProcess {
 public:
  explicit EmulatorProcess(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) ExecChild(args, fds);
    close(fds[1]);
    stdout_fd_ = fds[0];
  }

  ~EmulatorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // The first line of stdout, or "" if none comes within the timeout.
  std::string ReadFirstLine(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd fd{stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, 100) <= 0) continue;
      char c = 0;
      if (read(stdout_fd_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return "";
  }

  // Sends SIGTERM and returns the exit status, or -1 if the process does not exit in time.
  int Terminate(std::chrono::milliseconds timeout) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  [[noreturn]] static void ExecChild(const std::vector<std::string>& args, int fds[2]) {
    dup2(fds[1], STDOUT_FILENO);
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDERR_FILENO);
    close(fds[0]);
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

TEST(GcmEmulatorBinaryTest, PrintsItsPortsServesAndStopsOnSigterm) {
  EmulatorProcess process({GCM_EMULATOR_BINARY, "--grpc.listen-address=127.0.0.1:0", "--web.listen-address=127.0.0.1:0",
                           "--sampling-period=10ms"});
  const std::string line = process.ReadFirstLine(std::chrono::seconds(5));
  int grpc_port = 0;
  int http_port = 0;
  char rest = 0;
  ASSERT_EQ(
      std::sscanf(line.c_str(), "gcm-emulator grpc=127.0.0.1:%d http=127.0.0.1:%d%c", &grpc_port, &http_port, &rest), 2)
      << line;
  ASSERT_GT(grpc_port, 0);
  ASSERT_GT(http_port, 0);
  httplib::Client http("127.0.0.1", http_port);
  auto ready = http.Get("/-/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  auto stub = google::monitoring::v3::MetricService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port), grpc::InsecureChannelCredentials()));
  const TimeNs base = RecentBase();
  for (TimeNs end : {base, base + 10 * kNanosPerMilli}) {
    grpc::ClientContext context;
    google::protobuf::Empty empty;
    EXPECT_TRUE(stub->CreateTimeSeries(&context, RequestOf({GaugeSeries({}, end, 1)}), &empty).ok());
  }
  auto stats = http.Get("/v1/stats");
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->body.find("\"points_accepted\":2"), std::string::npos) << stats->body;
  EXPECT_EQ(process.Terminate(std::chrono::seconds(5)), 0);
}

TEST(GcmEmulatorBinaryTest, RejectsABadSamplingPeriod) {
  EmulatorProcess process({GCM_EMULATOR_BINARY, "--grpc.listen-address=127.0.0.1:0", "--web.listen-address=127.0.0.1:0",
                           "--sampling-period=often"});
  EXPECT_EQ(process.ReadFirstLine(std::chrono::seconds(5)), "");
  EXPECT_EQ(process.Terminate(std::chrono::seconds(5)), 2);
}

}  // namespace
}  // namespace prom2gcm::emulator::testing
