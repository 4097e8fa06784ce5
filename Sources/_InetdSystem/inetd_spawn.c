// The only code that runs in a child between clone and exec. It makes raw
// system calls only (no libc function, so nothing touches errno or any other
// state of the parent's thread) and allocates nothing: everything it needs
// was prepared by the parent (see inetd_system.h).
//
// The child is started with clone(CLONE_VM): it shares the parent's memory,
// on a stack of its own, so nothing is copied and the cost of a spawn does
// not grow with the daemon's size. The parent never waits for it: it goes on
// at once while the child sets itself up and execs on the other CPU, from a
// slot (stack and a copy of the request) lent until the kernel clears the
// slot's tid word, at exec or exit (CLONE_CHILD_CLEARTID). Between its
// setuid and its execve a child already has the handler's uid, so any
// process of that uid may stop it (SIGSTOP cannot be blocked): a parent that
// waited for it (CLONE_VFORK, as posix_spawn does) could be held for ever.
// Instead a child that has not exec'd within a bound is killed
// (inetd_spawn_next_overdue), and with every slot lent the caller waits out
// of its loop (inetd_spawn_slot_free) rather than here.
//
// A failing child stores its step and errno in the slot, wakes inetd through
// an eventfd and waits (up to 2 s) until inetd has read them, so the failure
// is reported before the descriptors it holds (a client's connection, a
// handed-over listener) are dropped.
#define _GNU_SOURCE
#include "inetd_system.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Every function the child runs is left out of AddressSanitizer's
// instrumentation (bench/asan builds with --sanitize=address). The child runs
// on a stack ASan does not know as any thread's stack: there an instrumented
// call to _exit makes ASan warn that it ignores __asan_handle_no_return and
// that "false positive error reports may follow", and instrumented frames
// would poison shadow memory for that stack (and, with
// detect_stack_use_after_return, take frames from the parent thread's fake
// stack that are never given back). The parent side is still checked.
#define CHILD_SIDE __attribute__((no_sanitize("address")))

/// A system call without libc: returns the result, or -errno. The child runs
/// on the parent's thread-local storage, so libc's wrappers would write the
/// parent's errno, while the parent reads it.
CHILD_SIDE static inline long raw_syscall(long n, long a, long b, long c, long d, long e) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
#else
#error "inetd_spawn.c: raw system calls are written for x86_64 and aarch64 only"
#endif
}
#define RAW0(n) raw_syscall((n), 0, 0, 0, 0, 0)
#define RAW1(n, a) raw_syscall((n), (long)(a), 0, 0, 0, 0)
#define RAW2(n, a, b) raw_syscall((n), (long)(a), (long)(b), 0, 0, 0)
#define RAW3(n, a, b, c) raw_syscall((n), (long)(a), (long)(b), (long)(c), 0, 0)
#define RAW4(n, a, b, c, d) raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), 0)

/// The kernel's struct sigaction: handler, flags, (x86_64: restorer,) mask.
/// All zero is SIG_DFL with no flags and an empty mask on both architectures.
struct kernel_sigaction { unsigned long words[4]; };
static const struct kernel_sigaction default_action;

enum {
    SLOT_RUNNING = 1,   // the child has the slot, or had it and exec'd
    SLOT_FAILED = 2,    // the child failed and waits for inetd to read why
    SLOT_REPORTED = 3,  // inetd read the failure: the child may exit
    SLOT_KILLED = 4,    // inetd killed it for not exec'ing in time
};

/// What the child shares with its parent.
struct spawn_context {
    const struct inetd_spawn_req *req;
    /// The step the child is at (INETD_STEP_*), written before each one:
    /// what a child killed for not exec'ing in time is reported at.
    int at_step;
    /// Bit sig-1 set: that signal's disposition is not SIG_DFL in inetd.
    uint64_t reset_signals;
    /// Where a failure is announced (inetd_spawn_set_report_fd).
    int report_fd;
    int failed_step;  // stays 0 unless the child fails
    int failed_errno;
    /// SLOT_*: the futex word a failed child waits on.
    int state;
};

CHILD_SIDE static _Noreturn void child_fail(struct spawn_context *ctx, int step, long result) {
    ctx->failed_errno = (int)-result;
    ctx->failed_step = step;
    // The mask may be empty already (a failed execve): no signal may
    // interrupt the report, nor run a handler installed since the
    // dispositions were read.
    uint64_t all = ~0ULL;
    (void)RAW4(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
    __atomic_store_n(&ctx->state, SLOT_FAILED, __ATOMIC_RELEASE);
    // The eventfd wakes inetd's loop (a signal would need the ids this
    // child may have given up). It sits above every descriptor a child
    // is given, so no dup3 has replaced it. The descriptors stay open,
    // held by this child, until inetd has read the failure; a wedged
    // inetd cannot keep them past 2 s.
    uint64_t one = 1;
    if (ctx->report_fd >= ctx->req->nfds && RAW3(SYS_write, ctx->report_fd, &one, sizeof one) == sizeof one) {
        struct timespec wait = { 2, 0 };
        while (__atomic_load_n(&ctx->state, __ATOMIC_ACQUIRE) == SLOT_FAILED) {
            long r = RAW4(SYS_futex, &ctx->state, FUTEX_WAIT_PRIVATE, SLOT_FAILED, &wait);
            if (r == -ETIMEDOUT) break;
        }
    }
    for (;;) (void)RAW1(SYS_exit_group, 127);
}

/// Kernels before 5.11: walks /proc/self/fd with getdents64 (no malloc).
/// Apart, so that its buffer is on the stack only when it runs.
CHILD_SIDE __attribute__((noinline)) static long cloexec_by_walk(int first) {
    long dir = RAW4(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0) return dir;
    char buf[4096];
    for (;;) {
        long n = RAW3(SYS_getdents64, dir, buf, sizeof buf);
        if (n < 0) { (void)RAW1(SYS_close, dir); return n; }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent_header { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; };
            struct dirent_header *d = (struct dirent_header *)(buf + off);
            off += d->reclen;
            int fd = 0, digits = 0;
            for (const char *p = d->name; *p >= '0' && *p <= '9'; p++, digits++)
                fd = fd * 10 + (*p - '0');
            if (digits == 0 || fd < first || fd == dir) continue;
            (void)RAW3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
        }
    }
    (void)RAW1(SYS_close, dir);
    return 0;
}

/// Marks every descriptor from `first` up close-on-exec: they close at exec.
/// Returns 0 or -errno.
CHILD_SIDE static long cloexec_from(int first) {
    long r = RAW3(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC);
    if (r != -ENOSYS && r != -EINVAL) return r;
    return cloexec_by_walk(first);
}

/// Writes "LISTEN_PID=<pid>" into the parent-reserved entry.
CHILD_SIDE static void write_listen_pid(char *entry, int capacity) {
    static const char prefix[] = "LISTEN_PID=";
    char digits[16];
    int nd = 0;
    for (unsigned long v = (unsigned long)RAW0(SYS_getpid); v > 0 || nd == 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    int need = (int)sizeof prefix - 1 + nd + 1;
    if (need > capacity) return;
    int at = 0;
    for (const char *p = prefix; *p; p++) entry[at++] = *p;
    while (nd > 0) entry[at++] = digits[--nd];
    entry[at] = '\0';
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

#define AT(step) __atomic_store_n(&ctx->at_step, (step), __ATOMIC_RELAXED)
#define CHECK(call, step) do { AT(step); long r_ = (call); if (r_ < 0) child_fail(ctx, (step), r_); } while (0)

CHILD_SIDE static int child(void *arg) {
    struct spawn_context *ctx = arg;
    const struct inetd_spawn_req *req = ctx->req;

    // Dispositions first, then the mask: the parent blocked every signal
    // around clone, so nothing is delivered before both are reset. Only the
    // signals inetd does not leave at SIG_DFL need it (handled by inetd or
    // its runtime, or ignored: SIGPIPE, and whatever inetd inherited
    // ignored); the rest are SIG_DFL already in this copy of its table.
    for (int sig = 1; sig <= 64; sig++)
        if (ctx->reset_signals & (1ULL << (sig - 1)))
            CHECK(RAW4(SYS_rt_sigaction, sig, &default_action, 0, 8), INETD_STEP_SIGNALS);

    CHECK(RAW0(SYS_setsid), INETD_STEP_SETSID);
    CHECK(RAW1(SYS_chdir, "/"), INETD_STEP_CHDIR);
    (void)RAW1(SYS_umask, 022);

    // A source may sit on a target slot (inetd started with fd 0 closed), so
    // every source is first copied above the targets, then moved down.
    int n = req->nfds;
    int moved[INETD_SPAWN_MAX_FDS];
    AT(INETD_STEP_DUP);
    if (n < 0 || n > INETD_SPAWN_MAX_FDS) child_fail(ctx, INETD_STEP_DUP, -EINVAL);
    for (int i = 0; i < n; i++) {
        long fd = RAW3(SYS_fcntl, req->fds[i], F_DUPFD_CLOEXEC, n);
        if (fd < 0) child_fail(ctx, INETD_STEP_DUP, fd);
        moved[i] = (int)fd;
    }
    // dup3 clears FD_CLOEXEC; moved[i] >= n > i, so never the same slot.
    for (int i = 0; i < n; i++) CHECK(RAW3(SYS_dup3, moved[i], i, 0), INETD_STEP_DUP);

    // The ids of this process only: glibc's wrappers would try to change the
    // ids of every thread of the process whose memory this child shares.
    if (req->change_identity) {
        CHECK(RAW2(SYS_setgroups, req->ngroups, req->groups), INETD_STEP_SETGROUPS);
        CHECK(RAW1(SYS_setgid, req->gid), INETD_STEP_SETGID);
        CHECK(RAW1(SYS_setuid, req->uid), INETD_STEP_SETUID);
        AT(INETD_STEP_VERIFY);
        if (req->uid != 0 && RAW1(SYS_setuid, 0) == 0) child_fail(ctx, INETD_STEP_VERIFY, -EPERM);
    }

    if (handler_nofile_set) CHECK(RAW4(SYS_prlimit64, 0, RLIMIT_NOFILE, &handler_nofile, 0), INETD_STEP_RLIMIT);
    CHECK(cloexec_from(n), INETD_STEP_CLOSE);
    if (req->listen_pid_entry) write_listen_pid(req->listen_pid_entry, req->listen_pid_capacity);

    uint64_t none = 0;
    CHECK(RAW4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8), INETD_STEP_SIGNALS);
    AT(INETD_STEP_EXEC);
    long r = RAW3(SYS_execve, req->path, req->argv, req->envp);
    child_fail(ctx, INETD_STEP_EXEC, r);
}

/// The signals whose disposition is not SIG_DFL in inetd: the ones a child
/// resets. Read once, at the first spawn: inetd sets its dispositions at
/// start-up (SignalChannel: SIGPIPE ignored; the Swift runtime's crash
/// handlers) and changes none after. Raw calls: glibc refuses to read its
/// own signals, 32 and 33.
static uint64_t reset_signals;
static int reset_signals_known;

static void note_dispositions(void) {
    uint64_t set = 0;
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        struct kernel_sigaction old = { { 0, 0, 0, 0 } };
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, 8) != 0 || old.words[0] != (unsigned long)SIG_DFL)
            set |= 1ULL << (sig - 1);
    }
    reset_signals = set;
    reset_signals_known = 1;
}

/// Blocks every signal around clone so that no handler (the Swift runtime's
/// crash handlers included) can run in the child on the shared memory.
static pid_t clone_blocked(struct spawn_context *ctx, char *stack_top, int flags, pid_t *tid) {
    if (!reset_signals_known) note_dispositions();
    ctx->reset_signals = reset_signals;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = clone(child, stack_top, flags, ctx, tid, NULL, tid);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    errno = clone_errno;
    return pid;
}

// MARK: - Slots

/// Memory lent to one child: a guard page, its stack, and at the
/// top a copy of its request (the parent reuses its own buffers at once).
/// The copy ends where the mapping ends and the stack grows down from its
/// start, so a child that uses a little of each touches one page.
struct spawn_slot {
    char *map;
    size_t map_size;
    /// The child's tid while it may touch the slot: set by clone before the
    /// child runs (CLONE_PARENT_SETTID), cleared by the kernel when the child
    /// execs or exits (CLONE_CHILD_CLEARTID).
    pid_t tid;
    pid_t pid;
    /// CLOCK_MONOTONIC milliseconds at clone: the child must exec by
    /// started_ms plus the caller's bound.
    int64_t started_ms;
    struct spawn_context ctx;
};

/// Children setting up at once: an exec takes about 60 us and a spawn about
/// 15-35 us of the loop, so two to four are in flight; with all eight lent,
/// the caller waits out of its loop until one comes back.
#define SPAWN_SLOTS 8
static const size_t slot_guard = 4096;
static const size_t slot_stack = 60 * 1024;
static struct spawn_slot slots[SPAWN_SLOTS];

static int report_fd = -1;

void inetd_spawn_set_report_fd(int fd) { report_fd = fd; }

static int slot_free(struct spawn_slot *slot) {
    return __atomic_load_n(&slot->tid, __ATOMIC_ACQUIRE) == 0
        && __atomic_load_n(&slot->ctx.state, __ATOMIC_ACQUIRE) != SLOT_FAILED;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// Lent to a child that may still exec: not failed (it exits on its own
/// once its failure is read, or after 2 s) and not killed already.
static int slot_setting_up(struct spawn_slot *slot) {
    int state = __atomic_load_n(&slot->ctx.state, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&slot->tid, __ATOMIC_ACQUIRE) != 0 && state == SLOT_RUNNING;
}

int inetd_spawn_slot_free(void) {
    for (int i = 0; i < SPAWN_SLOTS; i++)
        if (slot_free(&slots[i])) return 1;
    return 0;
}

int inetd_spawn_wait_slot(int64_t timeout_us) {
    if (inetd_spawn_slot_free()) return 1;
    // The child lent a slot first is likely the first to exec.
    struct spawn_slot *oldest = NULL;
    for (int i = 0; i < SPAWN_SLOTS; i++)
        if (slot_setting_up(&slots[i]) && (!oldest || slots[i].started_ms < oldest->started_ms)) oldest = &slots[i];
    if (!oldest) return 0;  // every slot is a failed or killed child's: they exit on their own
    pid_t tid = __atomic_load_n(&oldest->tid, __ATOMIC_ACQUIRE);
    if (tid != 0) {
        struct timespec wait = { timeout_us / 1000000, (timeout_us % 1000000) * 1000 };
        (void)syscall(SYS_futex, &oldest->tid, FUTEX_WAIT, tid, &wait, NULL, 0);
    }
    return inetd_spawn_slot_free();
}

static size_t align_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/// The bytes a copy of a NULL-terminated list takes: its pointers, and the
/// strings from `first` on (the ones before are shared, not copied).
static size_t list_size(char *const *list, size_t first, const char *reserved, size_t reserved_capacity,
                        size_t *count) {
    size_t bytes = 0, n = 0;
    for (; list[n]; n++) {
        if (n < first) continue;
        size_t len = strlen(list[n]) + 1;
        if (list[n] == reserved && reserved_capacity > len) len = reserved_capacity;
        bytes += len;
    }
    *count = n;
    return bytes + (n + 1) * sizeof(char *);
}

/// Copies a list to `at`: its pointers, then its strings from `first` on.
/// Returns the end; `*reserved_copy` gets the copy of `reserved`.
static char *copy_list(char *at, char *const *list, size_t count, size_t first, const char *reserved,
                       size_t reserved_capacity, char **reserved_copy) {
    char **pointers = (char **)at;
    char *text = at + (count + 1) * sizeof(char *);
    for (size_t i = 0; i < count; i++) {
        if (i < first) { pointers[i] = list[i]; continue; }
        size_t len = strlen(list[i]) + 1;
        size_t room = len;
        if (list[i] == reserved) {
            if (reserved_capacity > room) room = reserved_capacity;
            *reserved_copy = text;
        }
        memcpy(text, list[i], len);
        pointers[i] = text;
        text += room;
    }
    pointers[count] = NULL;
    return text;
}

/// Copies `req` to the top of the slot, mapping a larger slot if needed.
/// Returns the copy, whose start is the child's stack top; NULL with errno.
static struct inetd_spawn_req *lend(struct spawn_slot *slot, const struct inetd_spawn_req *req) {
    size_t argc, envc;
    size_t shared = req->envp_shared > 0 ? (size_t)req->envp_shared : 0;
    size_t reserved = req->listen_pid_entry ? (size_t)req->listen_pid_capacity : 0;
    size_t path_len = strlen(req->path) + 1;
    size_t need = align_up(sizeof *req, 16)
        + align_up((size_t)req->nfds * sizeof(int), 16)
        + align_up((size_t)req->ngroups * sizeof(gid_t), 16)
        + align_up(path_len, 16)
        + align_up(list_size(req->argv, 0, NULL, 0, &argc), 16)
        + align_up(list_size(req->envp, shared, req->listen_pid_entry, reserved, &envc), 16);
    if (shared > envc) shared = envc;
    size_t size = slot_guard + slot_stack + align_up(need, 4096);
    if (slot->map_size < size) {
        if (slot->map) munmap(slot->map, slot->map_size);
        slot->map = NULL;
        slot->map_size = 0;
        void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (map == MAP_FAILED) return NULL;
        if (mprotect(map, slot_guard, PROT_NONE) != 0) { int e = errno; munmap(map, size); errno = e; return NULL; }
        slot->map = map;
        slot->map_size = size;
    }
    char *at = slot->map + slot->map_size - align_up(need, 16);
    struct inetd_spawn_req *copy = (struct inetd_spawn_req *)at;
    *copy = *req;
    at += align_up(sizeof *req, 16);
    memcpy(at, req->fds, (size_t)req->nfds * sizeof(int));
    copy->fds = (const int *)at;
    at += align_up((size_t)req->nfds * sizeof(int), 16);
    if (req->groups && req->ngroups > 0) memcpy(at, req->groups, (size_t)req->ngroups * sizeof(gid_t));
    copy->groups = (const gid_t *)at;
    at += align_up((size_t)req->ngroups * sizeof(gid_t), 16);
    memcpy(at, req->path, path_len);
    copy->path = at;
    at += align_up(path_len, 16);
    char *ignored = NULL;
    copy->argv = (char *const *)at;
    at = (char *)align_up((uintptr_t)copy_list(at, req->argv, argc, 0, NULL, 0, &ignored), 16);
    char *listen_pid = NULL;
    copy->envp = (char *const *)at;
    copy_list(at, req->envp, envc, shared, req->listen_pid_entry, reserved, &listen_pid);
    copy->listen_pid_entry = listen_pid;
    if (!listen_pid) copy->listen_pid_capacity = 0;
    return copy;
}

int inetd_spawn(const struct inetd_spawn_req *req, pid_t *pid, int *step) {
    struct spawn_slot *slot = NULL;
    for (int i = 0; i < SPAWN_SLOTS && !slot; i++)
        if (slot_free(&slots[i])) slot = &slots[i];
    if (!slot) { *step = INETD_STEP_NONE; return -1; }

    struct inetd_spawn_req *lent = lend(slot, req);
    if (!lent) { *step = INETD_STEP_CLONE; return errno; }
    slot->ctx = (struct spawn_context){ .req = lent, .at_step = INETD_STEP_SIGNALS, .report_fd = report_fd,
                                        .state = SLOT_RUNNING };
    slot->tid = -1;
    slot->started_ms = now_ms();
    pid_t child_pid = clone_blocked(&slot->ctx, (char *)lent,
                                    CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, &slot->tid);
    if (child_pid < 0) {
        int e = errno;
        __atomic_store_n(&slot->tid, 0, __ATOMIC_RELEASE);
        *step = INETD_STEP_CLONE;
        return e;
    }
    slot->pid = child_pid;
    *pid = child_pid;
    *step = INETD_STEP_NONE;
    return 0;
}

int inetd_spawn_next_failure(pid_t *pid, int *step, int *error) {
    for (int i = 0; i < SPAWN_SLOTS; i++) {
        struct spawn_slot *slot = &slots[i];
        if (__atomic_load_n(&slot->ctx.state, __ATOMIC_ACQUIRE) != SLOT_FAILED) continue;
        *pid = slot->pid;
        *step = slot->ctx.failed_step;
        *error = slot->ctx.failed_errno;
        __atomic_store_n(&slot->ctx.state, SLOT_REPORTED, __ATOMIC_RELEASE);
        (void)syscall(SYS_futex, &slot->ctx.state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        return 1;
    }
    return 0;
}

int inetd_spawn_next_overdue(int64_t bound_ms, pid_t *pid, int *step, int64_t *next_ms) {
    int64_t now = now_ms();
    int64_t next = -1;
    for (int i = 0; i < SPAWN_SLOTS; i++) {
        struct spawn_slot *slot = &slots[i];
        if (!slot_setting_up(slot)) continue;
        int64_t due = slot->started_ms + bound_ms;
        if (due > now) {
            if (next < 0 || due < next) next = due;
            continue;
        }
        // Still lent, so not yet exited, so not reaped: the pid is this
        // child's. SIGKILL ends a stopped process too, and root may send it.
        __atomic_store_n(&slot->ctx.state, SLOT_KILLED, __ATOMIC_RELEASE);
        (void)kill(slot->pid, SIGKILL);
        *pid = slot->pid;
        *step = __atomic_load_n(&slot->ctx.at_step, __ATOMIC_RELAXED);
        return 1;
    }
    *next_ms = next;
    return 0;
}

void inetd_spawn_settle(int64_t bound_ms) {
    for (int i = 0; i < SPAWN_SLOTS; i++) {
        struct spawn_slot *slot = &slots[i];
        pid_t tid;
        // The kernel's wake at exec or exit is a shared-futex wake.
        while ((tid = __atomic_load_n(&slot->tid, __ATOMIC_ACQUIRE)) != 0
               && __atomic_load_n(&slot->ctx.state, __ATOMIC_ACQUIRE) != SLOT_FAILED) {
            int64_t left = slot->started_ms + bound_ms - now_ms();
            if (left <= 0 && __atomic_load_n(&slot->ctx.state, __ATOMIC_ACQUIRE) == SLOT_RUNNING) {
                __atomic_store_n(&slot->ctx.state, SLOT_KILLED, __ATOMIC_RELEASE);
                (void)kill(slot->pid, SIGKILL);
            }
            // A killed child that cannot die (stuck in the kernel) is left
            // after a second: it runs no code of inetd's any more.
            if (left < -1000) break;
            if (left < 1) left = 1;
            struct timespec wait = { left / 1000, (left % 1000) * 1000000 };
            (void)syscall(SYS_futex, &slot->tid, FUTEX_WAIT, tid, &wait, NULL, 0);
        }
    }
}
