import Glibc
import _InetdSystem

/// Gives the heap's free memory back to the system: after parsing a large
/// file, the freed pages at the top of the heap and in its free lists.
/// C equivalent: `malloc_trim(0)`.
func releaseFreeHeap() {
    malloc_trim(0)
}
