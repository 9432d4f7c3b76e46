// Helpers for the tests that run config_probe (its path is argv[1]) in a
// child process and read what it printed and wrote.
#ifndef STRATALLOC_TESTS_CONFIG_PROBE_RUN_H
#define STRATALLOC_TESTS_CONFIG_PROBE_RUN_H

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace probe {

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) n++;
  return n;
}

inline std::string ProbePath() {
  const std::vector<std::string>& argv = testing::internal::GetArgvs();
  if (argv.size() < 2) return "";
  char buf[4096];
  return realpath(argv[1].c_str(), buf) ? std::string(buf) : argv[1];
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The names in dir, sorted, each followed by a space.
inline std::string ReadDir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (struct dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += n + " ";
  return out;
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

struct Result {
  int status = -1;
  std::string out, err;
  std::map<std::string, std::string> values;  // key=value lines of stdout
};

// Runs program with exactly env (and PATH), as uid/gid when not -1 (the
// child drops its groups first). Waits for it.
inline Result RunAs(const std::string& program, const std::vector<std::string>& env,
                 const std::vector<std::string>& args = {}, int uid = -1, int gid = -1) {
  Result r;
  EXPECT_FALSE(program.empty()) << "config_probe's path is argv[1]";
  const char* tmp = getenv("TEST_TMPDIR");
  std::string base = std::string(tmp ? tmp : "/tmp") + "/probe." + std::to_string(getpid());
  std::string out_path = base + ".out", err_path = base + ".err";
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<std::string> argv_s = {program};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_s = env;
  env_s.push_back("PATH=/usr/bin:/bin");
  for (auto& e : env_s) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    if (gid != -1 && (setgroups(0, nullptr) != 0 || setgid((gid_t)gid) != 0)) _exit(125);
    if (uid != -1 && setuid((uid_t)uid) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out);
  close(err);
  waitpid(pid, &r.status, 0);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) r.values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return r;
}

inline Result RunProbe(const std::vector<std::string>& env, const std::vector<std::string>& args = {}) {
  return RunAs(ProbePath(), env, args);
}

// A fresh directory under base (TEST_TMPDIR by default).
inline std::string MakeDir(std::string base = "") {
  if (base.empty()) {
    const char* tmp = getenv("TEST_TMPDIR");
    base = tmp ? tmp : "/tmp";
  }
  std::string tmpl = base + "/config_test.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  EXPECT_NE(mkdtemp(buf.data()), nullptr) << tmpl << ": " << strerror(errno);
  return buf.data();
}

// The startup messages: the ones before config_probe's main.
inline std::string BeforeMain(const std::string& err) { return err.substr(0, err.find("config_probe: main")); }

}  // namespace probe

#endif
