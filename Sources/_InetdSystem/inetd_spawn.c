// The only code that runs in a child between clone and exec. It calls only
// async-signal-safe functions and raw system calls, and allocates nothing:
// everything it needs was prepared by the parent (see inetd_system.h).
//
// The child is started with clone(CLONE_VM | CLONE_VFORK), as glibc's
// posix_spawn does: it shares the parent's memory, on a stack of its own,
// while the parent is suspended until it execs or exits. Nothing is copied,
// so the cost of a spawn does not grow with the daemon's size, and a failure
// is reported by writing into the parent's memory instead of through a pipe.
#define _GNU_SOURCE
#include "inetd_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Every function the child runs is left out of AddressSanitizer's
// instrumentation (bench/asan builds with --sanitize=address). The child runs
// on child_stack, which ASan does not know as any thread's stack: there an
// instrumented call to _exit makes ASan warn that it ignores
// __asan_handle_no_return and that "false positive error reports may follow",
// and instrumented frames would poison shadow memory for that stack (and,
// with detect_stack_use_after_return, take frames from the parent thread's
// fake stack that are never given back). The parent side is still checked.
#define CHILD_SIDE __attribute__((no_sanitize("address")))

/// What the child shares with its suspended parent.
struct spawn_context {
    const struct inetd_spawn_req *req;
    int failed_step;  // stays 0 unless the child fails
    int failed_errno;
};

CHILD_SIDE static _Noreturn void child_fail(struct spawn_context *ctx, int step) {
    ctx->failed_errno = errno;
    ctx->failed_step = step;
    _exit(127);
}

/// Resets one signal to SIG_DFL. glibc's sigaction refuses the signals it
/// reserves for itself (32 and 33, used by NPTL), yet a parent may have left
/// them ignored, so those go to the kernel directly.
CHILD_SIDE static void reset_disposition(int sig, const struct sigaction *dfl) {
    if (sigaction(sig, dfl, NULL) == 0 || errno != EINVAL) return;
#if defined(__x86_64__) || defined(__aarch64__)
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } kernel_dfl = { 0 };
    kernel_dfl.handler = (void *)SIG_DFL;
    (void)syscall(SYS_rt_sigaction, sig, &kernel_dfl, NULL, sizeof kernel_dfl.mask);
#endif
}

/// Marks every descriptor from `first` up close-on-exec: they close at exec.
CHILD_SIDE static int cloexec_from(int first) {
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
CHILD_SIDE static void write_listen_pid(char *slot, int capacity) {
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

/// The descriptor limit handlers get: inetd raises its own soft limit to the
/// hard one, but a handler using select(2) breaks on descriptors past 1024,
/// so it starts with the soft limit inetd was given (OpenBSD and FreeBSD do
/// the same). Set once at start-up, read by every child.
static struct rlimit handler_nofile;
static int handler_nofile_set;

void inetd_spawn_set_handler_nofile(unsigned long soft, unsigned long hard) {
    handler_nofile.rlim_cur = soft;
    handler_nofile.rlim_max = hard;
    handler_nofile_set = 1;
}

CHILD_SIDE static int child(void *arg) {
    struct spawn_context *ctx = arg;
    const struct inetd_spawn_req *req = ctx->req;

    // Dispositions first, then the mask: the parent blocked every signal
    // around clone, so nothing is delivered before both are reset.
    struct sigaction dfl;
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags = 0;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) reset_disposition(sig, &dfl);

    if (setsid() < 0) child_fail(ctx, INETD_STEP_SETSID);
    if (chdir("/") < 0) child_fail(ctx, INETD_STEP_CHDIR);
    umask(022);

    // A source may sit on a target slot (inetd started with fd 0 closed), so
    // every source is first copied above the targets, then moved down.
    int n = req->nfds;
    int moved[INETD_SPAWN_MAX_FDS];
    if (n < 0 || n > INETD_SPAWN_MAX_FDS) { errno = EINVAL; child_fail(ctx, INETD_STEP_DUP); }
    for (int i = 0; i < n; i++) {
        moved[i] = fcntl(req->fds[i], F_DUPFD_CLOEXEC, n);
        if (moved[i] < 0) child_fail(ctx, INETD_STEP_DUP);
    }
    for (int i = 0; i < n; i++)
        if (dup2(moved[i], i) < 0) child_fail(ctx, INETD_STEP_DUP);  // clears FD_CLOEXEC

    // Raw system calls: glibc's wrappers would try to change the ids of every
    // thread of the process whose memory this child shares.
    if (req->change_identity) {
        if (syscall(SYS_setgroups, (size_t)req->ngroups, req->groups) < 0) child_fail(ctx, INETD_STEP_SETGROUPS);
        if (syscall(SYS_setgid, req->gid) < 0) child_fail(ctx, INETD_STEP_SETGID);
        if (syscall(SYS_setuid, req->uid) < 0) child_fail(ctx, INETD_STEP_SETUID);
        if (req->uid != 0 && syscall(SYS_setuid, 0) == 0) { errno = EPERM; child_fail(ctx, INETD_STEP_VERIFY); }
    }

    if (handler_nofile_set && setrlimit(RLIMIT_NOFILE, &handler_nofile) < 0) child_fail(ctx, INETD_STEP_RLIMIT);
    if (cloexec_from(n) < 0) child_fail(ctx, INETD_STEP_CLOSE);
    if (req->listen_pid_entry) write_listen_pid(req->listen_pid_entry, req->listen_pid_capacity);

    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(ctx, INETD_STEP_SIGNALS);
    execve(req->path, req->argv, req->envp);
    child_fail(ctx, INETD_STEP_EXEC);
}

/// The child's stack, mapped once: the daemon spawns from one thread only.
static char *child_stack;
static const size_t child_stack_size = 256 * 1024;

int inetd_spawn(const struct inetd_spawn_req *req, pid_t *pid, int *step) {
    if (!child_stack) {
        void *stack = mmap(NULL, child_stack_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) { *step = INETD_STEP_CLONE; return errno; }
        child_stack = stack;
    }
    struct spawn_context ctx = { req, 0, 0 };

    // Block everything so that no handler (the Swift runtime's crash
    // handlers included) can run in the child on the shared memory.
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t child_pid = clone(child, child_stack + child_stack_size,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);

    if (child_pid < 0) { *step = INETD_STEP_CLONE; return clone_errno; }
    if (ctx.failed_step == 0) { *pid = child_pid; *step = INETD_STEP_NONE; return 0; }

    // The child _exit()ed: reap it here so the caller never sees its pid.
    int status;
    while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {}
    *step = ctx.failed_step;
    return ctx.failed_errno;
}
