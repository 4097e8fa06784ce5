import Glibc

// Not code to call: it fixes which module glibc's socket types come from.
//
// SOCK_STREAM, SOCK_NONBLOCK and the rest are one C enum (bits/socket_type.h)
// that two clang modules include textually: SwiftGlibc, and _InetdSystem,
// whose header includes <sys/socket.h>. Swift imports such an enum once, for
// the module it is first looked up through, and a file that imports only the
// other module then cannot find its constants. A whole-module (release) build
// type-checks the files in path order: were the first look-up in a file that
// imports both (Runtime/Readiness.swift), the files that import Glibc alone
// (Runtime/SocketBinder.swift, System/Lookup.swift) would not compile. This
// file sorts before Runtime/ and System/, and Config/ imports no C module (a
// test checks it), so the enum is Glibc's.
let socketTypesFromGlibc = SOCK_STREAM
