// The bad-free cases (cases.c) through the libc names: runs the driver
// (--driver=PATH) once per case, with LD_PRELOAD of --preload=PATH when
// given, in a fresh process whose environment has no SA_ variables; each run
// must end in SIGABRT with the report naming the announced pointer and the
// strategy (--strategy=NAME).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/badfree/cases.h"
#include "tests/badfree/expect.h"

extern char** environ;

namespace {

std::string g_strategy, g_driver, g_preload;

std::string Absolute(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  std::string out = real ? real : path;
  free(real);
  return out;
}

struct DriverRun {
  int status = 0;
  std::string output;  // stdout and stderr, interleaved
};

// Runs the driver on one case; returns its wait status and output.
DriverRun RunDriver(const std::string& name) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; e++) {
    if (strncmp(*e, "SA_", 3) == 0 || strncmp(*e, "LD_PRELOAD=", 11) == 0) continue;
    env.push_back(*e);
  }
  if (!g_preload.empty()) env.push_back("LD_PRELOAD=" + g_preload);
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(&s[0]);
  envp.push_back(nullptr);
  std::string driver = g_driver;
  std::string arg = name;
  char* argv[] = {&driver[0], &arg[0], nullptr};

  DriverRun run;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    run.output = "pipe failed";
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  pid_t pid;
  int rc = posix_spawn(&pid, driver.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    run.output = "posix_spawn " + driver + ": " + strerror(rc);
    return run;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    run.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  waitpid(pid, &run.status, 0);
  return run;
}

std::string Describe(int status) {
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

class ProgramTest : public testing::TestWithParam<const bf_case_t*> {};

TEST_P(ProgramTest, Case) {
  const bf_case_t* c = GetParam();
  DriverRun run = RunDriver(c->name);
  const std::string how = g_preload.empty() ? g_driver : "LD_PRELOAD=" + g_preload + " " + g_driver;
  std::string why;
  bool reported = badfree::CheckReport(run.output, c->expect, g_strategy, &why);
  bool aborted = WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGABRT;
  EXPECT_TRUE(aborted && reported)
      << c->name << " (" << c->what << ")\n  " << how << " " << c->name << "\n  "
      << Describe(run.status) << (aborted ? "" : ", not by SIGABRT")
      << (reported ? "" : "\n  " + why) << "\n  output:\n"
      << run.output;
}

std::vector<const bf_case_t*> Cases() {
  std::vector<const bf_case_t*> v;
  for (size_t i = 0; i < bf_case_count; i++)
    if (bf_cases[i].scope == BF_ALL) v.push_back(&bf_cases[i]);
  return v;
}

INSTANTIATE_TEST_SUITE_P(BadFree, ProgramTest, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<const bf_case_t*>& info) {
                           return std::string(info.param->name);
                         });

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--strategy=", 11) == 0) g_strategy = argv[i] + 11;
    if (strncmp(argv[i], "--driver=", 9) == 0) g_driver = Absolute(argv[i] + 9);
    if (strncmp(argv[i], "--preload=", 10) == 0) g_preload = Absolute(argv[i] + 10);
  }
  if (g_strategy.empty() || g_driver.empty()) {
    fprintf(stderr, "usage: %s --strategy=NAME --driver=PATH [--preload=LIB.so]\n", argv[0]);
    return 2;
  }
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  return RUN_ALL_TESTS();
}
