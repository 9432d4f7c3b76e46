// Secure mode: a setuid-root (then a setgid-root) copy of config_probe run by
// an unprivileged user (nobody) must ignore SA_STATS (no file written, not
// even its .tmp) and SA_CONF (no message, the defaults in its heap), as glibc
// ignores its tunables and jemalloc MALLOC_CONF there. The same copy without
// the setuid bit, run by the same user with the same environment, must write
// the file and read SA_CONF: the test cannot pass by SA_STATS or SA_CONF
// being broken. Needs root (chown, setuid); skipped otherwise.
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/config/probe_run.h"

namespace {

using probe::Contains;
using probe::Exists;
using probe::ReadDir;
using probe::Result;

class SecureModeTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (to make a setuid-root copy and run it as nobody); euid is "
                                     << geteuid();
    struct passwd* pw = getpwnam("nobody");
    uid_ = pw ? (int)pw->pw_uid : 65534;
    gid_ = pw ? (int)pw->pw_gid : 65534;
    // Under /tmp, not TEST_TMPDIR: nobody must reach the copy, and the
    // output base's directories are root's only.
    dir_ = probe::MakeDir("/tmp");
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    copy_ = dir_ + "/config_probe";
    {
      std::ifstream in(probe::ProbePath(), std::ios::binary);
      ASSERT_TRUE(in.good()) << probe::ProbePath();
      std::ofstream out(copy_, std::ios::binary);
      out << in.rdbuf();
    }
    ASSERT_EQ(chown(copy_.c_str(), 0, 0), 0) << strerror(errno);
    ASSERT_EQ(chmod(copy_.c_str(), 0755), 0);
    out_ = dir_ + "/out";
    ASSERT_EQ(mkdir(out_.c_str(), 0777), 0);
    ASSERT_EQ(chmod(out_.c_str(), 0777), 0);  // nobody writes here when not setuid
  }

  void TearDown() override {
    if (dir_.empty()) return;
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }

  // Runs the copy as nobody with SA_STATS=prom:<out>/<name> and a SA_CONF
  // with one bad and one good item.
  Result RunCopy(const std::string& name) {
    return probe::RunAs(copy_,
                        {"SA_STATS=prom:" + out_ + "/" + name + ",interval:0",
                         "SA_CONF=bogus:1,mmap_threshold:64k", "SA_TRACE=" + out_ + "/" + name + ".satrace"},
                        {}, uid_, gid_);
  }

  // Plain copy: nobody's own process reads both, the file is written.
  void ExpectHonoured() {
    Result r = RunCopy("plain.prom");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.values["at_secure"], "0");
    EXPECT_TRUE(Contains(probe::ReadFile(out_ + "/plain.prom"), "stratalloc_allocations_total"))
        << "without the setuid bit SA_STATS must write the file, else the secure run proves nothing; "
        << ReadDir(out_) << r.err;
    EXPECT_TRUE(Contains(r.err, "stratalloc: SA_CONF: 'bogus:1': unknown key")) << r.err;
    EXPECT_EQ(r.values["mmap_threshold"], "65536");
  }

  void ExpectIgnored(const std::string& mode) {
    Result r = RunCopy("secure.prom");
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_EQ(r.values["at_secure"], "1")
        << mode << " was not honoured (a nosuid mount or no_new_privs?), so secure mode was not tested";
    EXPECT_EQ(r.values["process_heap"], "1");
    EXPECT_EQ(ReadDir(out_), "plain.prom ") << mode << ": SA_STATS wrote a file";
    EXPECT_FALSE(Contains(r.err, "stratalloc")) << mode << ": " << r.err;
    EXPECT_EQ(r.err, "config_probe: main\n");
    EXPECT_EQ(r.values["mmap_threshold"], "131072") << mode << ": SA_CONF was applied";
  }

  int uid_ = 65534, gid_ = 65534;
  std::string dir_, copy_, out_;
};

TEST_F(SecureModeTest, SetuidRootIgnoresSaStatsAndSaConf) {
  ExpectHonoured();
  ASSERT_EQ(chmod(copy_.c_str(), 04755), 0) << strerror(errno);
  ExpectIgnored("setuid root");
}

TEST_F(SecureModeTest, SetgidRootIgnoresSaStatsAndSaConf) {
  ExpectHonoured();
  ASSERT_EQ(chmod(copy_.c_str(), 02755), 0) << strerror(errno);
  ExpectIgnored("setgid root");
}

}  // namespace
