// The C side of swift-inetd: what Glibc's Swift module does not expose, and the
// one function that runs in a child between fork and exec.
#ifndef INETD_SYSTEM_H
#define INETD_SYSTEM_H

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <netinet/in.h>

/// The largest number of descriptors a child is handed (fd 0 up to this - 1).
#define INETD_SPAWN_MAX_FDS 64

/// The set-up step a child was at when it failed; sent back with the errno.
enum inetd_spawn_step {
    INETD_STEP_NONE = 0,
    INETD_STEP_CLONE,     // parent: mapping the child stack, or clone itself
    INETD_STEP_SIGNALS,   // child: sigaction / sigprocmask
    INETD_STEP_SETSID,
    INETD_STEP_CHDIR,
    INETD_STEP_DUP,       // child: moving descriptors into place
    INETD_STEP_SETGROUPS,
    INETD_STEP_SETGID,
    INETD_STEP_SETUID,
    INETD_STEP_VERIFY,    // child: setuid(0) succeeded after dropping to a non-root uid
    INETD_STEP_RLIMIT,    // child: the descriptor limit inetd was started with
    INETD_STEP_CLOSE,     // child: marking every other descriptor close-on-exec
    INETD_STEP_EXEC,
};

/// Everything a child needs, marshalled by the parent ahead of the fork: the
/// child allocates nothing and looks nothing up.
struct inetd_spawn_req {
    const char *_Nonnull path;
    char *const _Nullable *_Nonnull argv;
    char *const _Nullable *_Nonnull envp;
    /// How many of envp's first strings stay valid and unchanged until every
    /// child started from them has exec'd: a spawn copies the
    /// others, and the pointers.
    int envp_shared;
    /// fds[i] becomes the child's descriptor i; every other descriptor is closed.
    const int *_Nonnull fds;
    int nfds;
    /// Non-zero: setgroups(groups), setgid(gid), setuid(uid), in that order.
    int change_identity;
    uid_t uid;
    gid_t gid;
    const gid_t *_Nullable groups;
    int ngroups;
    /// When set, the child writes "LISTEN_PID=<its pid>" here (an envp entry the
    /// parent reserved); capacity counts the terminating NUL.
    char *_Nullable listen_pid_entry;
    int listen_pid_capacity;
};

/// Starts a child (clone with CLONE_VM, from a lent slot) that sets itself up
/// as `req` says and execs `req->path`, and returns as soon as it is cloned:
/// the child works from a copy of `req` while the caller goes on. A later
/// failure is reported through inetd_spawn_next_failure, before the child
/// exits; a child that does not exec in time, through
/// inetd_spawn_next_overdue. Returns 0 with the pid; an errno with the step
/// (INETD_STEP_CLONE: mapping the slot, or clone itself); or -1 when every
/// slot is lent (inetd_spawn_slot_free tells beforehand).
int inetd_spawn(const struct inetd_spawn_req *_Nonnull req, pid_t *_Nonnull pid, int *_Nonnull step);

/// 1 when a slot is free, so that inetd_spawn will not return -1: slots
/// only come back between two calls, never go.
int inetd_spawn_slot_free(void);

/// Waits up to `timeout_us` for the child lent a slot first to exec or
/// exit; 1 when a slot is free then.
int inetd_spawn_wait_slot(int64_t timeout_us);

/// A child that failed after inetd_spawn returned: 1 with its pid, step and errno, after
/// which the child exits (127); 0 when none waits. Call when the report fd
/// is readable, and before reaping, until it returns 0.
int inetd_spawn_next_failure(pid_t *_Nonnull pid, int *_Nonnull step, int *_Nonnull error);

/// A child that has not exec'd `bound_ms` after its clone (stopped, or stuck):
/// killed (SIGKILL), and 1 with its pid and the step it was at. 0 when none
/// is overdue, with `*next_ms` the CLOCK_MONOTONIC millisecond when the next
/// child setting up will be, or -1 when none sets up.
int inetd_spawn_next_overdue(int64_t bound_ms, pid_t *_Nonnull pid, int *_Nonnull step,
                             int64_t *_Nonnull next_ms);

/// Waits until every child has exec'd or failed, killing the ones that have
/// not `bound_ms` after their clone: before the memory they may still read
/// (the shared environment strings) is freed.
void inetd_spawn_settle(int64_t bound_ms);

/// The eventfd a failed child writes 1 to, at or above
/// INETD_SPAWN_MAX_FDS; without one (or below), a failure is read at reap.
void inetd_spawn_set_report_fd(int fd);

/// The RLIMIT_NOFILE every later child gets before exec (inetd's own soft
/// limit is raised past it).
void inetd_spawn_set_handler_nofile(unsigned long soft, unsigned long hard);

/// The most descriptors inetd_reexec hands over.
#define INETD_REEXEC_MAX_FDS 65536

/// Where inetd_reexec failed.
enum inetd_reexec_step {
    INETD_REEXEC_PLACE = 1,  // duplicating and placing the descriptors
    INETD_REEXEC_EXEC,       // execve
};

/// execve(path, argv, envp) with fds[i] at descriptor 3 + i (without
/// FD_CLOEXEC; every other descriptor keeps its flag). Returns only on
/// failure, with the errno and the step, every descriptor as it was.
int inetd_reexec(const char *_Nonnull path, char *const _Nullable *_Nonnull argv,
                 char *const _Nullable *_Nonnull envp, const int *_Nonnull fds, int count, int *_Nonnull step);

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) (a GNU extension).
int inetd_memfd_create(const char *_Nonnull name);
/// Seals a memfd against any change: F_ADD_SEALS with F_SEAL_SEAL,
/// F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_WRITE.
int inetd_seal(int fd);
/// 1 when `fd` carries every seal inetd_seal adds, 0 when not, -1 (errno)
/// when it cannot say (EINVAL: not a memfd).
int inetd_is_sealed(int fd);

/// accept4(2); a thin wrapper because it is a GNU extension.
int inetd_accept4(int fd, struct sockaddr *_Nullable addr, socklen_t *_Nullable len, int flags);
/// getsockopt(SO_PEERCRED): struct ucred needs _GNU_SOURCE, which Swift's
/// Glibc module is not built with.
int inetd_peer_credentials(int fd, pid_t *_Nonnull pid, uid_t *_Nonnull uid, gid_t *_Nonnull gid);
/// The datagram at the head of a socket with SO_PASSCRED set, without
/// waiting, and left there when `peek` is non-zero: the bytes copied (at
/// most `length`), the sender's pid from its SCM_CREDENTIALS (0 when none
/// came), and `*truncated` 1 when the datagram was longer than `length`.
/// -1 with errno (EAGAIN: none waits).
/// CMSG_* are macros Swift cannot import; struct ucred needs _GNU_SOURCE.
long inetd_receive_with_pid(int fd, void *_Nonnull buffer, size_t length, int peek, pid_t *_Nonnull pid,
                            int *_Nonnull truncated);
/// The process environment (`environ`).
char *_Nullable *_Nullable inetd_environ(void);
/// madvise(MADV_DONTNEED) on every private file-backed r-x mapping; returns
/// how many, or -1 when /proc/self/maps cannot be read.
int inetd_release_code_pages(void);
/// errno, read right after the call that set it.
int inetd_errno(void);

#endif
