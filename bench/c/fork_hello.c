/* The floor of fork per connection on this machine (issue 17): the tutorial's final server
 * (webserver3g) in C, with the hello app's answer. socket, SO_REUSEADDR, bind 127.0.0.1, listen,
 * then accept -> fork -> the child reads the request, writes a fixed HTTP/1.1 response (14 bytes of
 * body, Content-Length, Connection: close) and _exit()s; the parent closes its copy of the client
 * and reaps in a SIGCHLD handler that loops waitpid(-1, WNOHANG). No keep-alive, no parsing.
 * Prints "Serving HTTP on port N ..." first (flushed), like every server of bench/suite.js.
 *
 * Not committed as a binary: bench/suite.js and bench/fork-floor.js compile it with `cc -O2`
 * into a temporary directory.
 *
 *   cc -O2 -o /tmp/fork_hello bench/c/fork_hello.c && /tmp/fork_hello 0
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 14\r\n"
    "Connection: close\r\n"
    "\r\n"
    "Hello, World!\n";

static void reaper(int signo) {
  (void)signo;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8888;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(ls, 1024) < 0) die("listen");
  socklen_t len = sizeof addr;
  if (getsockname(ls, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
  printf("Serving HTTP on port %d ...\n", ntohs(addr.sin_port));
  fflush(stdout);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reaper;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) die("sigaction");
  signal(SIGPIPE, SIG_IGN);

  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        usleep(10000);
        continue;
      }
      die("accept");
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(ls);
      char buf[1024];
      (void)!read(c, buf, sizeof buf);
      size_t off = 0;
      while (off < sizeof RESPONSE - 1) {
        ssize_t n = write(c, RESPONSE + off, sizeof RESPONSE - 1 - off);
        if (n < 0) {
          if (errno == EINTR) continue;
          break;
        }
        off += (size_t)n;
      }
      close(c);
      _exit(0);
    }
    if (pid < 0) perror("fork");
    close(c);
  }
}
