#if canImport(Glibc)
import Glibc
#endif

/// Hands memory the process will no longer read back to the kernel without unmapping
/// it: the whole pages inside a range are reclaimed (`MADV_PAGEOUT`), and read again
/// from their file (or swap) should anything touch them after all. Contents never
/// change, so this is only a hint; where the kernel lacks it nothing happens.
public enum ResidentPages {
    public static func release(_ start: UnsafeRawPointer, byteCount: Int) {
        #if os(Linux)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + pageSize - 1) / pageSize * pageSize
        let end = (Int(bitPattern: start) + byteCount) / pageSize * pageSize
        guard end > first, let address = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(address, end - first, MADV_PAGEOUT)
        #endif
    }
}
