// Thin wrappers for GNU extensions that Glibc's Swift module cannot import.
#define _GNU_SOURCE
#include "inetd_system.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

extern char **environ;

int inetd_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

long inetd_receive_with_pid(int fd, void *buffer, size_t length, int peek, pid_t *pid, int *truncated) {
    struct iovec io = { .iov_base = buffer, .iov_len = length };
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct msghdr message = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control.bytes,
                              .msg_controllen = sizeof control.bytes };
    ssize_t n = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (peek ? MSG_PEEK : 0));
    if (n < 0) return -1;
    *pid = 0;
    *truncated = (message.msg_flags & MSG_TRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS
            && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
            *pid = credentials.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            // A writer may pass descriptors; the buffer leaves them no
            // room, but whatever arrives is closed, never kept.
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                close(passed);
            }
        }
    }
    return n;
}

char **inetd_environ(void) { return environ; }

int inetd_errno(void) { return errno; }

/// Drops this process's page-table entries for its code (every private,
/// file-backed, read-execute mapping) once start-up is over. Code pages are
/// clean: the kernel keeps them in the page cache and maps back, on first
/// use, only those the event loop runs. Writable and read-only data mappings
/// are never touched: they may hold relocated (dirty) pages.
int inetd_release_code_pages(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    static char buf[65536];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        if (used == sizeof buf - 1) break;
    }
    close(fd);
    buf[used] = '\0';
    int released = 0;
    for (char *line = buf; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        unsigned long start, stop, offset, inode;
        char perms[5];
        unsigned dev_major, dev_minor;
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &start, &stop, perms, &offset, &dev_major, &dev_minor, &inode) == 7
            && inode != 0 && strcmp(perms, "r-xp") == 0) {
            if (madvise((void *)start, stop - start, MADV_DONTNEED) == 0) released++;
        }
        if (!end) break;
        line = end + 1;
    }
    return released;
}

int inetd_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}

int inetd_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }

static const int every_seal = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

int inetd_seal(int fd) { return fcntl(fd, F_ADD_SEALS, every_seal); }

int inetd_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0) return -1;
    return (seals & every_seal) == every_seal;
}
