import Foundation
import Glibc
import Testing
@testable import InetdCore

/// The protocol of a spawn that fails after it returned (inetd_spawn.c):
/// the child announces the failure on the report eventfd and keeps its
/// descriptors, the client's connection among them, open until inetd has
/// read the failure; then it exits 127. A child that does not exec in time
/// is killed.
@Suite(.serialized) struct LateSpawnFailureTests {
    @Test func aFailedChildHoldsItsConnectionUntilTheFailureIsRead() throws {
        let reports = try SpawnReports()
        var pair: [CInt] = [-1, -1]
        let flags = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        #expect(socketpair(AF_UNIX, flags, 0, &pair) == 0)
        defer { close(pair[0]) }
        let program = PreparedProgram(path: "/nonexistent/handler", arguments: ["handler"],
                                      environment: HandlerEnvironment(["KEPT=1"]), identity: nil)
        let result = program.spawn(descriptors: [pair[1], pair[1], 2])
        close(pair[1])
        guard case .success(let pid) = result else {
            Issue.record("the spawn returned before exec: \(result)")
            return
        }

        var announced = pollfd(fd: reports.fd.rawValue, events: Int16(POLLIN), revents: 0)
        let polled = poll(&announced, 1, 5_000)
        var early: CInt = 0
        let gone = polled == 1 ? 0 : waitpid(pid, &early, WNOHANG)
        #expect(polled == 1, "the child wrote the report eventfd (else: exited \(gone) with status \(early), report fd \(reports.fd.rawValue))")
        var byte: UInt8 = 0
        #expect(recv(pair[0], &byte, 1, CInt(MSG_DONTWAIT)) == -1 && errno == EAGAIN,
                "the connection is still open while the failure is unread")
        var status: CInt = 0
        #expect(waitpid(pid, &status, WNOHANG) == 0, "the child waits")

        reports.drain()
        let failure = PreparedProgram.nextLateFailure()
        #expect(failure?.pid == pid)
        #expect(failure?.error.description == "execve: No such file or directory (errno 2)")
        #expect(PreparedProgram.nextLateFailure() == nil, "read once")
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status >> 8 & 0xff == 127)
        var hangUp = pollfd(fd: pair[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&hangUp, 1, 5_000) == 1 && recv(pair[0], &byte, 1, CInt(MSG_DONTWAIT)) == 0,
                "the connection closes with the child")
    }

    /// Children that exec are never reported, and their slots are lent again:
    /// more children than slots, one after another, all start.
    @Test func successfulChildrenAreNotReported() throws {
        let reports = try SpawnReports()
        let program = PreparedProgram(path: "/bin/true", arguments: ["true"],
                                      environment: HandlerEnvironment([]), identity: nil)
        for _ in 0..<40 {
            let result = program.spawn(descriptors: [0, 1, 2])
            guard case .success(let pid) = result else {
                Issue.record("spawn: \(result)")
                return
            }
            var status: CInt = 0
            #expect(waitpid(pid, &status, 0) == pid)
            #expect(status == 0)
        }
        #expect(PreparedProgram.nextLateFailure() == nil)
        _ = reports
    }

    /// A child stopped before its exec (as any process of the handler's
    /// uid may do) holds its slot until the bound, then is killed and
    /// reported with the step it was at; its slot is lent again.
    @Test func aChildStoppedBeforeExecIsKilledAtTheBound() throws {
        let program = PreparedProgram(path: "/bin/true", arguments: ["true"],
                                      environment: HandlerEnvironment([]), identity: nil)
        // The stop must land between clone and execve: retried until it did.
        var stopped: pid_t?
        for _ in 0..<50 where stopped == nil {
            guard case .success(let pid) = program.spawn(descriptors: [0, 1, 2]) else { continue }
            kill(pid, SIGSTOP)
            var status: CInt = 0
            #expect(waitpid(pid, &status, WUNTRACED) == pid)
            if status & 0xff == 0x7f, (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("true") != true {
                stopped = pid
            } else {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
        }
        guard let pid = stopped else {
            Issue.record("no stop landed before exec in 50 tries")
            return
        }
        var next: Int64?
        #expect(PreparedProgram.nextOverdue(bound: 10_000, next: &next) == nil, "not overdue yet")
        #expect(next != nil, "its deadline is the next one")
        usleep(60_000)
        let overdue = PreparedProgram.nextOverdue(bound: 50, next: &next)
        #expect(overdue?.pid == pid)
        if case .noExec(_, let ms)? = overdue?.error { #expect(ms == 50) } else { Issue.record("\(String(describing: overdue))") }
        #expect(PreparedProgram.nextOverdue(bound: 50, next: &next) == nil, "killed once")
        var status: CInt = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status & 0x7f == SIGKILL, "killed, though stopped")
        usleep(10_000)
        #expect(PreparedProgram.slotFree)
    }
}

extension PreparedProgram {
    func spawn(descriptors: [CInt]) -> Result<pid_t, SpawnError> {
        descriptors.withUnsafeBufferPointer { spawn(fds: $0) { _ in } }
    }
}
