// SA_STATS in a process (config_probe, a program with stratalloc's malloc
// linked in; its path is argv[1]): each bad item named with its reason and
// the good files still written; a file that cannot be written named at
// startup with its path and errno; a later failure named once. Also SA_CONF
// read by the process heap at its first malloc.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/config/probe_run.h"

namespace {

using probe::BeforeMain;
using probe::Contains;
using probe::Count;
using probe::Exists;
using probe::MakeDir;
using probe::ReadDir;
using probe::ReadFile;
using probe::Result;
using probe::RunProbe;

TEST(ConfEnv, ProcessHeapReadsSaConfAtTheFirstMalloc) {
  Result r = RunProbe({"SA_CONF=mmap_threshold:64k,bogus:1,heap_extension_size:-1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.values["process_heap"], "1");
  EXPECT_EQ(r.values["at_secure"], "0");
  EXPECT_EQ(r.values["mmap_threshold"], "65536");
  EXPECT_EQ(r.values["heap_extension_size"], "1048576");
  EXPECT_TRUE(Contains(r.err, "'bogus:1': unknown key")) << r.err;
  EXPECT_TRUE(Contains(r.err, "'heap_extension_size:-1': negative")) << r.err;
}

// ---- SA_STATS --------------------------------------------------------------

TEST(Stats, GoodItemsWriteTheirFilesSilently) {
  std::string d = MakeDir();
  Result r = RunProbe({"SA_STATS=prom:" + d + "/a.prom,json:" + d + "/b-%p.json,text:" + d + "/c.txt,interval:0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "config_probe: main\n");
  EXPECT_TRUE(Contains(ReadFile(d + "/a.prom"), "stratalloc_allocations_total"));
  EXPECT_TRUE(Contains(ReadFile(d + "/c.txt"), "stratalloc heap statistics"));
}

TEST(Stats, ABadItemIsNamedAndTheGoodOnesKept) {
  std::string d = MakeDir();
  Result r = RunProbe({"SA_STATS=prom:" + d + "/a.prom,bogus:1,json:" + d + "/b.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(Contains(BeforeMain(r.err),
                       "stratalloc: SA_STATS: bad item 'bogus:1': unknown kind 'bogus' (want prom:PATH, json:PATH, "
                       "text:PATH or interval:SECONDS); ignored\n"))
      << r.err;
  EXPECT_EQ(Count(r.err, "stratalloc:"), 1u) << r.err;
  EXPECT_TRUE(Contains(ReadFile(d + "/a.prom"), "stratalloc_allocations_total"));
  EXPECT_TRUE(Contains(ReadFile(d + "/b.json"), "\"total_allocations\""));
}

TEST(Stats, AFifthFileIsNamedAndDropped) {
  std::string d = MakeDir();
  std::string spec = "SA_STATS=";
  for (const char* f : {"a", "b", "c", "d", "e"}) spec += std::string(spec.size() > 9 ? "," : "") + "json:" + d + "/" + f;
  Result r = RunProbe({spec});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "bad item 'json:" + d +
                                  "/e': a fifth file: at most 4 files are written (the first 4 items); ignored"))
      << r.err;
  for (const char* f : {"a", "b", "c", "d"}) EXPECT_TRUE(Exists(d + "/" + f)) << f;
  EXPECT_FALSE(Exists(d + "/e"));
}

TEST(Stats, AnUnwritablePathIsNamedAtStartupWithTheErrno) {
  std::string d = MakeDir();
  Result r = RunProbe({"SA_STATS=prom:/nonexistent/dir/x.prom,json:" + d + "/ok.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string pid_tmp = "/nonexistent/dir/x.prom.tmp.";
  std::string before = BeforeMain(r.err);
  EXPECT_TRUE(Contains(before, "stratalloc: SA_STATS: cannot write /nonexistent/dir/x.prom: creating " + pid_tmp))
      << r.err;
  EXPECT_TRUE(Contains(before, ": No such file or directory (errno 2); this file is not written\n")) << r.err;
  EXPECT_EQ(Count(r.err, "stratalloc:"), 1u) << "named once, at startup, not again at exit: " << r.err;
  EXPECT_TRUE(Contains(ReadFile(d + "/ok.json"), "\"total_allocations\""));
}

TEST(Stats, OtherWriteErrorsNameTheStepAndTheErrno) {
  std::string d = MakeDir();
  { std::ofstream(d + "/plain") << "x"; }
  mkdir((d + "/adir").c_str(), 0755);
  Result r = RunProbe({"SA_STATS=prom:" + d + "/plain/x.prom,prom:" + d + "/adir"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "cannot write " + d + "/plain/x.prom: creating " + d + "/plain/x.prom.tmp.")) << r.err;
  EXPECT_TRUE(Contains(r.err, "Not a directory (errno 20); this file is not written")) << r.err;
  EXPECT_TRUE(Contains(r.err, "cannot write " + d + "/adir: renaming " + d + "/adir.tmp.")) << r.err;
  EXPECT_TRUE(Contains(r.err, " to " + d + "/adir: Is a directory (errno 21); this file is not written")) << r.err;
  EXPECT_TRUE(Contains(r.err, "stratalloc: SA_STATS: no file to write in ")) << r.err;
  std::string left = ReadDir(d);
  EXPECT_EQ(left, "adir plain ") << "a temporary file was left";
}

// A file that stops being writable while the program runs: named once, when
// it starts failing, not at every interval nor again at exit.
TEST(Stats, ALaterFailureIsNamedOnce) {
  std::string d = MakeDir();
  std::string sub = d + "/sub";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  Result r = RunProbe({"SA_STATS=prom:" + sub + "/x.prom,interval:1"},
                   {"--rm", sub + "/x.prom", "--rmdir", sub, "--sleep-ms", "2600"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(BeforeMain(r.err).empty()) << "nothing wrong at startup: " << r.err;
  EXPECT_EQ(Count(r.err, "cannot write " + sub + "/x.prom: creating " + sub + "/x.prom.tmp."), 1u) << r.err;
  EXPECT_TRUE(Contains(r.err, "No such file or directory (errno 2); trying again at the next interval")) << r.err;
}

struct StatsBadCase {
  std::string item;  // with D for the test's directory
  std::string why;
};

TEST(Stats, EachKindOfBadItemIsNamedWithItsReason) {
  const StatsBadCase cases[] = {
      {"prom:", "bad item 'prom:': empty path; ignored"},
      {"json:D/" + std::string(1000, 'x'), "path too long (at most 975 bytes); ignored"},
      {"xml:D/x.xml", "unknown kind 'xml' (want prom:PATH, json:PATH, text:PATH or interval:SECONDS); ignored"},
      {"D/x.prom", "a path without its format (want prom:PATH"},
      {"prometheus", "bad item 'prometheus': missing ':' (want prom:PATH"},
      {" json:D/y.json", "bad item ' json:D/y.json': unknown kind ' json' (no spaces around ',')"},
      {"interval:", "bad item 'interval:': empty value (want a whole number of seconds, 0 to 86400)"},
      {"interval:abc", "bad item 'interval:abc': not a whole number of seconds (0 to 86400; 0: only at exit)"},
      {"interval:-1", "bad item 'interval:-1': not a whole number of seconds"},
      {"interval:99999999999999999999", "bad item 'interval:99999999999999999999': above the maximum 86400 seconds"},
      {"interval:0,interval:5", "bad item 'interval:5': interval given twice (the first one counts); ignored"},
      {"prom:D/a.prom", "bad item 'prom:D/a.prom': the same file as an earlier item (the first one is written)"},
      {"", "bad item: empty (trailing ',') in 'prom:D/a.prom,'; ignored"},
  };
  for (const StatsBadCase& bc : cases) {
    std::string d = MakeDir();
    auto sub = [&](std::string s) {
      // Search on past each replacement: mkdtemp's suffix may itself end in 'D'.
      for (size_t at = 0; (at = s.find("D/", at)) != std::string::npos; at += d.size()) s.replace(at, 1, d);
      return s;
    };
    std::string spec = "prom:" + d + "/a.prom," + sub(bc.item);
    SCOPED_TRACE(spec);
    Result r = RunProbe({"SA_STATS=" + spec});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(Contains(r.err, sub(bc.why))) << "want: " << sub(bc.why) << "\nstderr: " << r.err;
    EXPECT_EQ(Count(r.err, "stratalloc:"), 1u) << r.err;
    EXPECT_TRUE(Contains(ReadFile(d + "/a.prom"), "stratalloc_allocations_total")) << "the good item is kept";
  }
}

TEST(Stats, NothingGoodIsSaidSo) {
  Result r = RunProbe({"SA_STATS=bogus:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "bad item 'bogus:1': unknown kind 'bogus'")) << r.err;
  EXPECT_TRUE(Contains(r.err, "stratalloc: SA_STATS: no file to write in 'bogus:1'; statistics are not written"))
      << r.err;
}

}  // namespace
