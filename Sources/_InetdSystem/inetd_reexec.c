// The one call that replaces inetd's image with a new one (SIGUSR2, issue 16):
// the descriptors to hand over are placed at 3, 4, ... as LISTEN_FDS says,
// and a failed execve puts every descriptor back as it was, so that the old
// image serves on.
#define _GNU_SOURCE
#include "inetd_system.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int inetd_reexec(const char *path, char *const argv[], char *const envp[], const int *fds, int count, int *step) {
    *step = INETD_REEXEC_PLACE;
    if (count < 0 || count > INETD_REEXEC_MAX_FDS) return EINVAL;
    // copies[i]: fds[i], kept above every target while the targets change;
    // saved[i]: what was at 3 + i before (-1: nothing), to put back.
    int *copies = malloc(sizeof(int) * (size_t)(count ? count * 2 : 1));
    if (!copies) return ENOMEM;
    int *saved = copies + count;
    for (int i = 0; i < count; i++) copies[i] = saved[i] = -1;
    int base = 3 + count, error = 0;
    for (int i = 0; i < count && !error; i++) {
        copies[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base);
        if (copies[i] < 0) error = errno;
    }
    // One call a target: EBADF says nothing is there to keep.
    for (int i = 0; i < count && !error; i++) {
        saved[i] = fcntl(3 + i, F_DUPFD_CLOEXEC, base);
        if (saved[i] < 0 && errno != EBADF) error = errno;
    }
    int placed = 0;
    // dup2 leaves the target without FD_CLOEXEC: the new image gets these,
    // and every other descriptor closes at exec.
    for (; placed < count && !error; placed++) {
        if (dup2(copies[placed], 3 + placed) < 0) error = errno;
    }
    if (!error) {
        *step = INETD_REEXEC_EXEC;
        execve(path, argv, envp);
        error = errno;
    }
    // Back as it was: each target holds what it held, close-on-exec. epoll
    // kept its registrations throughout, as the saved copies kept each
    // open file description alive.
    for (int i = 0; i < placed; i++) {
        if (saved[i] >= 0) dup3(saved[i], 3 + i, O_CLOEXEC);
        else close(3 + i);
    }
    for (int i = 0; i < count; i++) {
        if (copies[i] >= 0) close(copies[i]);
        if (saved[i] >= 0) close(saved[i]);
    }
    free(copies);
    return error;
}
