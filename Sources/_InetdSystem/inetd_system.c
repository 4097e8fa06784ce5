// Thin wrappers for GNU extensions that Glibc's Swift module cannot import.
#define _GNU_SOURCE
#include "inetd_system.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

int inetd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int inetd_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

char **inetd_environ(void) { return environ; }

int inetd_errno(void) { return errno; }
