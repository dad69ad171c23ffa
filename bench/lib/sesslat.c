/*
 * sesslat.c - per-session latency for smtp-source, which reports none itself.
 *
 * Loaded with LD_PRELOAD into smtp-source. For every TCP socket it notes the time of
 * connect() and, when the socket is closed, appends the elapsed time in microseconds
 * (one number per line) to the file named by $SESSLAT_FILE. With smtp-source's
 * one-message-per-connection load, connect()..close() is one whole SMTP session:
 * TCP handshake, banner, HELO, MAIL, RCPT, DATA, body, ".", QUIT.
 *
 * Timestamps come from clock_gettime(CLOCK_MONOTONIC) (vDSO, no syscall); results are
 * kept in a memory buffer and written out in blocks and at exit, so the measured
 * sessions do not pay for an extra write() each.
 *
 * Built on demand by bench/lib/build-shim.sh:
 *   gcc -O2 -shared -fPIC -o sesslat.so sesslat.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FD_SLOTS 65536
#define BUF_ENTRIES 65536

static int64_t opened_at[FD_SLOTS]; /* ns since boot at connect(); 0 = not a timed socket */
static uint32_t pending[BUF_ENTRIES]; /* finished sessions not yet written, in us */
static size_t npending;

static int (*next_connect)(int, const struct sockaddr *, socklen_t);
static int (*next_close)(int);

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void resolve(void) {
  if (!next_connect) next_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  if (!next_close) next_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

/* Append the buffered latencies to $SESSLAT_FILE (O_APPEND, one line each). */
static void flush_pending(void) {
  const char *path = getenv("SESSLAT_FILE");
  if (npending == 0 || path == NULL || *path == '\0') {
    npending = 0;
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    npending = 0;
    return;
  }
  char out[1 << 16];
  size_t used = 0;
  for (size_t i = 0; i < npending; i++) {
    if (used > sizeof(out) - 16) {
      if (write(fd, out, used) < 0) break;
      used = 0;
    }
    used += (size_t)snprintf(out + used, sizeof(out) - used, "%u\n", pending[i]);
  }
  if (used > 0 && write(fd, out, used) < 0) { /* nothing more to do */
  }
  next_close(fd);
  npending = 0;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  resolve();
  if (fd >= 0 && fd < FD_SLOTS && addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6))
    opened_at[fd] = now_ns();
  return next_connect(fd, addr, len);
}

int close(int fd) {
  resolve();
  if (fd >= 0 && fd < FD_SLOTS && opened_at[fd] != 0) {
    int64_t us = (now_ns() - opened_at[fd]) / 1000;
    opened_at[fd] = 0;
    if (npending == BUF_ENTRIES) flush_pending();
    pending[npending++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  }
  return next_close(fd);
}

__attribute__((destructor)) static void at_exit(void) {
  resolve();
  flush_pending();
}
