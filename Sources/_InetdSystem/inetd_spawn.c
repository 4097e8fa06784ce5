// The only code that runs in a child between fork and exec. It calls only
// async-signal-safe functions and allocates nothing: everything it needs was
// prepared by the parent (see inetd_system.h).
#define _GNU_SOURCE
#include "inetd_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct spawn_failure {
    int32_t step;
    int32_t err;
};

static _Noreturn void child_fail(int channel, int step) {
    struct spawn_failure f = { step, errno };
    // Nothing to do if this write fails: the parent then sees a short read.
    (void)!write(channel, &f, sizeof f);
    _exit(127);
}

/// Marks every descriptor from `first` up close-on-exec, so that the error
/// channel stays usable until execve succeeds.
static int cloexec_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    // Kernels before 5.11: walk /proc/self/fd with getdents64 (no malloc).
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0) { int e = errno; close(dir); errno = e; return -1; }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            int fd = 0, digits = 0;
            for (const char *p = d->d_name; *p >= '0' && *p <= '9'; p++, digits++)
                fd = fd * 10 + (*p - '0');
            if (digits == 0 || fd < first || fd == dir) continue;
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    close(dir);
    return 0;
}

/// Writes "LISTEN_PID=<pid>" into the parent-reserved slot.
static void write_listen_pid(char *slot, int capacity) {
    static const char prefix[] = "LISTEN_PID=";
    char digits[16];
    int nd = 0;
    for (unsigned long v = (unsigned long)getpid(); v > 0 || nd == 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    int need = (int)sizeof prefix - 1 + nd + 1;
    if (need > capacity) return;
    int at = 0;
    for (const char *p = prefix; *p; p++) slot[at++] = *p;
    while (nd > 0) slot[at++] = digits[--nd];
    slot[at] = '\0';
}

/// Resets one signal to SIG_DFL. glibc's sigaction refuses the signals it
/// reserves for itself (32 and 33, used by NPTL), yet a parent may have left
/// them ignored, so those go to the kernel directly.
static void reset_disposition(int sig, const struct sigaction *dfl) {
    if (sigaction(sig, dfl, NULL) == 0 || errno != EINVAL) return;
#if defined(__x86_64__) || defined(__aarch64__)
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } kernel_dfl = { 0 };
    kernel_dfl.handler = (void *)SIG_DFL;
    (void)syscall(SYS_rt_sigaction, sig, &kernel_dfl, NULL, sizeof kernel_dfl.mask);
#endif
}

static _Noreturn void child(const struct inetd_spawn_req *req, int channel) {
    // Dispositions first, then the mask: nothing is delivered in between
    // because the parent's blocked set is inherited until the mask is cleared.
    struct sigaction dfl;
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags = 0;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) reset_disposition(sig, &dfl);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(channel, INETD_STEP_SIGNALS);

    if (setsid() < 0) child_fail(channel, INETD_STEP_SETSID);
    if (chdir("/") < 0) child_fail(channel, INETD_STEP_CHDIR);
    umask(022);

    // A source may sit on a target slot (inetd started with fd 0 closed), so
    // every source is first copied above the targets, then moved down.
    int n = req->nfds;
    int moved[INETD_SPAWN_MAX_FDS];
    if (n < 0 || n > INETD_SPAWN_MAX_FDS) { errno = EINVAL; child_fail(channel, INETD_STEP_DUP); }
    for (int i = 0; i < n; i++) {
        moved[i] = fcntl(req->fds[i], F_DUPFD_CLOEXEC, n);
        if (moved[i] < 0) child_fail(channel, INETD_STEP_DUP);
    }
    for (int i = 0; i < n; i++)
        if (dup2(moved[i], i) < 0) child_fail(channel, INETD_STEP_DUP);  // clears FD_CLOEXEC

    if (req->change_identity) {
        if (setgroups((size_t)req->ngroups, req->groups) < 0) child_fail(channel, INETD_STEP_SETGROUPS);
        if (setgid(req->gid) < 0) child_fail(channel, INETD_STEP_SETGID);
        if (setuid(req->uid) < 0) child_fail(channel, INETD_STEP_SETUID);
        if (req->uid != 0 && setuid(0) == 0) { errno = EPERM; child_fail(channel, INETD_STEP_VERIFY); }
    }

    if (cloexec_from(n) < 0) child_fail(channel, INETD_STEP_CLOSE);
    if (req->listen_pid_entry) write_listen_pid(req->listen_pid_entry, req->listen_pid_capacity);

    execve(req->path, req->argv, req->envp);
    child_fail(channel, INETD_STEP_EXEC);
}

int inetd_spawn(const struct inetd_spawn_req *req, pid_t *pid, int *step) {
    int channel[2];
    if (pipe2(channel, O_CLOEXEC) < 0) { *step = INETD_STEP_PIPE; return errno; }
    pid_t child_pid = fork();
    if (child_pid < 0) {
        int err = errno;
        close(channel[0]);
        close(channel[1]);
        *step = INETD_STEP_FORK;
        return err;
    }
    if (child_pid == 0) {
        close(channel[0]);
        child(req, channel[1]);
    }
    close(channel[1]);

    // EOF: execve closed the channel, so the program runs. Anything else: the
    // child failed and _exit()ed, and is reaped here so the caller sees no pid.
    struct spawn_failure failure;
    ssize_t got;
    do got = read(channel[0], &failure, sizeof failure);
    while (got < 0 && errno == EINTR);
    int read_errno = errno;
    close(channel[0]);
    if (got == 0) { *pid = child_pid; *step = INETD_STEP_NONE; return 0; }

    int status;
    while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t)sizeof failure) { *step = failure.step; return failure.err; }
    *step = INETD_STEP_CHANNEL;
    return got < 0 ? read_errno : EIO;
}
