// What memory costs a forked child on this machine, per 4 KiB page (issue 17): the parent fills
// <MB> of anonymous memory (on transparent huge pages with <huge>=1), forks, and the child reads
// every page twice (the first read of a page it inherited, present and mapped, and a second read),
// then writes every page once (copy-on-write). Prints µs per page and the fork's own time.
//
//   cc -O2 -o /tmp/page_costs bench/c/page_costs.c && /tmp/page_costs 64 0 && /tmp/page_costs 64 1
//
// On real hardware (or hardware-assisted virtualisation) the first read costs about what the second
// does; on a machine whose hypervisor shadows the guest's page tables it costs microseconds, and
// so does every page a forked Node child touches (bench/results/fork-floor-2026-12-06-notes.md).
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double NowUs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: page_costs <MB> <huge 0|1>\n");
    return 2;
  }
  size_t bytes = (size_t)atol(argv[1]) << 20;
  int huge = atoi(argv[2]);
  const size_t kHuge = 2UL << 20;
  char* raw = mmap(NULL, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return perror("mmap"), 1;
  char* p = (char*)(((unsigned long)raw + kHuge - 1) & ~(kHuge - 1));
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  size_t pages = bytes / 4096;
  setvbuf(stdout, NULL, _IONBF, 0);  // nothing buffered is copied into the children
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  for (int round = 0; round < 3; round++) {
    double t0 = NowUs();
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), 1;
    if (pid == 0) {
      volatile long sum = 0;
      struct rusage r0, r1;
      getrusage(RUSAGE_SELF, &r0);
      double a = NowUs();
      for (size_t i = 0; i < bytes; i += 4096) sum += p[i];
      double b = NowUs();
      getrusage(RUSAGE_SELF, &r1);
      for (size_t i = 0; i < bytes; i += 4096) sum += p[i];
      double c = NowUs();
      for (size_t i = 0; i < bytes; i += 4096) p[i] = 2;
      double d = NowUs();
      printf("%zu pages%s: first read %.2f us/page (%ld faults), second read %.2f, copy-on-write %.2f\n", pages,
             huge ? " (huge)" : "", (b - a) / pages, r1.ru_minflt - r0.ru_minflt, (c - b) / pages, (d - c) / pages);
      _exit(0);
    }
    double t1 = NowUs();
    int status;
    waitpid(pid, &status, 0);
    printf("  fork() %.0f us\n", t1 - t0);
  }
  return 0;
}
