/* //analysis:pressure_report: the memory-pressure scenarios as a report.
 * For every registered strategy, every address-space limit (RLIMIT_AS, in
 * MiB of the whole child process) and every scenario, one forked child
 * creates a fresh heap, sets the limit and allocates until the first NULL;
 * then checks the heap, frees every other block, allocates again (did it
 * recover?), frees everything and checks again. The blocks hold the list of
 * themselves (each block's first word points to the previous one), so the
 * child needs no memory besides the heap. A child that dies is a CRASH cell;
 * the parent never runs under a limit.
 *
 *   pressure_report [--limits 64,100,256] [--scenarios small,medium,large,mixed]
 *                   [--strategy NAME] [--markdown OUT.md]
 * Exit status 1 if any cell crashed, failed its check or did not recover. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stratalloc/stratalloc.h"

typedef struct scenario {
  const char *name, *help;
  size_t min, span; /* sizes: min + r % span */
} scenario_t;

static const scenario_t scenarios[] = {
    {"small", "64 B blocks", 64, 1},
    {"medium", "4 KiB blocks", 4096, 1},
    {"large", "1 MiB blocks (above mmap_threshold)", 1 << 20, 1},
    {"mixed", "16 B .. 64 KiB, random", 16, 65536},
};

typedef struct cell {
  uint64_t got_bytes, blocks, regot_bytes;
  int first_errno, recovered;
  uint64_t check_after_null, check_at_end;
  double seconds;
} cell_t;

static uint64_t rng(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

static int child(const sa_strategy_t *st, const scenario_t *sc, size_t limit_mib, int out) {
  cell_t c;
  memset(&c, 0, sizeof c);
  sa_config_t cfg;
  sa_config_default(&cfg);
  sa_heap_t *h = sa_heap_create(st, &cfg);
  if (h == NULL) return 3;
  struct rlimit lim = {limit_mib << 20, limit_mib << 20};
  if (setrlimit(RLIMIT_AS, &lim) != 0) return 4;
  uint64_t seed = 0x9e3779b97f4a7c15u;
  void *head = NULL;
  uint64_t cap = ((uint64_t)limit_mib << 20) / 16 + 16; /* never loop forever */
  for (;;) {
    size_t size = sc->min + (size_t)(rng(&seed) % sc->span);
    errno = 0;
    void *p = sa_malloc(h, size);
    if (p == NULL) {
      c.first_errno = errno;
      break;
    }
    *(void **)p = head;
    head = p;
    c.got_bytes += size;
    if (++c.blocks > cap) break;
  }
  c.check_after_null = sa_check(h);
  /* Free every other block. */
  for (void *p = head; p != NULL;) {
    void *next = *(void **)p;
    if (next == NULL) break;
    *(void **)p = *(void **)next;
    sa_free(h, next);
    p = *(void **)p;
  }
  /* Allocate again: recovered if at least a quarter of what was freed comes back. */
  uint64_t freed = c.got_bytes / 2;
  for (;;) {
    size_t size = sc->min + (size_t)(rng(&seed) % sc->span);
    void *p = sa_malloc(h, size);
    if (p == NULL) break;
    *(void **)p = head;
    head = p;
    c.regot_bytes += size;
    if (c.regot_bytes > c.got_bytes) break;
  }
  c.recovered = c.regot_bytes >= freed / 4 && c.regot_bytes > 0;
  for (void *p = head; p != NULL;) {
    void *next = *(void **)p;
    sa_free(h, p);
    p = next;
  }
  c.check_at_end = sa_check(h);
  sa_heap_destroy(h);
  if (write(out, &c, sizeof c) != (ssize_t)sizeof c) return 5;
  return 0;
}

static int split(const char *s, const char *items[], int max) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  int n = 0;
  for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ",")) items[n++] = tok;
  return n;
}

int main(int argc, char **argv) {
  const char *limits_s = "64,100,256", *scen_s = "small,medium,large,mixed", *only = NULL;
  const char *md = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--limits")) limits_s = argv[i + 1];
    else if (!strcmp(argv[i], "--scenarios")) scen_s = argv[i + 1];
    else if (!strcmp(argv[i], "--strategy")) only = argv[i + 1];
    else if (!strcmp(argv[i], "--markdown")) md = argv[i + 1];
    else {
      fprintf(stderr, "usage: pressure_report [--limits 64,100,256] [--scenarios ...] "
                      "[--strategy NAME] [--markdown OUT.md]\n");
      return 2;
    }
  }
  if (argc % 2 == 0) {
    fprintf(stderr, "pressure_report: an option lacks its value\n");
    return 2;
  }
  const char *limits[16], *scen[16];
  int nl = split(limits_s, limits, 16);
  static char scen_buf[1024];
  snprintf(scen_buf, sizeof scen_buf, "%s", scen_s);
  int ns = 0;
  for (char *tok = strtok(scen_buf, ","); tok && ns < 16; tok = strtok(NULL, ",")) scen[ns++] = tok;
  FILE *outs[2] = {stdout, md ? fopen(md, "w") : NULL};
  if (md && !outs[1]) {
    fprintf(stderr, "pressure_report: cannot write %s\n", md);
    return 2;
  }
  for (int o = 0; o < 2; o++)
    if (outs[o]) {
      fprintf(outs[o], "# Memory pressure: bytes obtained before the first NULL under RLIMIT_AS\n\n"
                       "Each cell: a forked child, a fresh heap, RLIMIT_AS = the limit for the whole "
                       "child; allocate until NULL, sa_check, free every other block, allocate "
                       "again (recovered: at least 1/4 of the freed bytes came back), free all, "
                       "sa_check. Scenarios:");
      for (size_t k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++)
        fprintf(outs[o], " %s (%s)%s", scenarios[k].name, scenarios[k].help,
                k + 1 < sizeof scenarios / sizeof scenarios[0] ? ";" : ".\n\n");
      fprintf(outs[o], "| strategy | limit MiB | scenario | got MiB before NULL | errno | "
                       "recovered | check | result |\n|---|---:|---|---:|---|---|---|---|\n");
    }
  int bad = 0, cells = 0;
  for (size_t k = 0; sa_registry[k]; k++) {
    const sa_strategy_t *st = sa_registry[k];
    if (only && strcmp(only, sa_strategy_name(st))) continue;
    for (int l = 0; l < nl; l++)
      for (int s = 0; s < ns; s++) {
        const scenario_t *sc = NULL;
        for (size_t q = 0; q < sizeof scenarios / sizeof scenarios[0]; q++)
          if (!strcmp(scenarios[q].name, scen[s])) sc = &scenarios[q];
        if (sc == NULL) {
          fprintf(stderr, "pressure_report: unknown scenario %s\n", scen[s]);
          return 2;
        }
        size_t limit = strtoull(limits[l], NULL, 10);
        int pfd[2];
        if (pipe(pfd) != 0) return 2;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
          close(pfd[0]);
          _exit(child(st, sc, limit, pfd[1]));
        }
        close(pfd[1]);
        cell_t c;
        ssize_t got = read(pfd[0], &c, sizeof c);
        close(pfd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        char result[64], check[32], err[32], rec[8];
        int ok;
        if (WIFSIGNALED(status)) {
          snprintf(result, sizeof result, "CRASH (%s)", strsignal(WTERMSIG(status)));
          ok = 0;
        } else if (got != (ssize_t)sizeof c || WEXITSTATUS(status) != 0) {
          snprintf(result, sizeof result, "FAILED (child exit %d)", WEXITSTATUS(status));
          ok = 0;
        } else {
          ok = c.check_after_null == 0 && c.check_at_end == 0 && c.recovered &&
               c.first_errno == ENOMEM;
          snprintf(result, sizeof result, "%s", ok ? "ok" : "FAILED");
        }
        cells++;
        bad += !ok;
        if (got == (ssize_t)sizeof c) {
          snprintf(check, sizeof check, "%s", c.check_after_null || c.check_at_end ? "FAILED" : "clean");
          snprintf(err, sizeof err, "%s", c.first_errno == ENOMEM ? "ENOMEM" : c.first_errno ? strerror(c.first_errno) : "none");
          snprintf(rec, sizeof rec, "%s", c.recovered ? "yes" : "no");
        } else {
          memset(&c, 0, sizeof c);
          snprintf(check, sizeof check, "-");
          snprintf(err, sizeof err, "-");
          snprintf(rec, sizeof rec, "-");
        }
        for (int o = 0; o < 2; o++)
          if (outs[o])
            fprintf(outs[o], "| %s | %zu | %s | %.1f | %s | %s | %s | %s |\n",
                    sa_strategy_name(st), limit, sc->name, (double)c.got_bytes / (1 << 20), err,
                    rec, check, result);
        fflush(stdout);
      }
  }
  for (int o = 0; o < 2; o++)
    if (outs[o]) fprintf(outs[o], "\n%d cells, %d not ok\n", cells, bad);
  if (outs[1]) fclose(outs[1]);
  return bad ? 1 : 0;
}
