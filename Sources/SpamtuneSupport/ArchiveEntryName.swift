/// The rule every archive reader here applies to entry names, so that a hostile archive
/// is refused the same way whatever its format.
enum ArchiveEntryName {
    /// False for names that are absolute (`/x`, `\x`, `C:x`) or have a `..` component,
    /// with either slash as separator since archives made on Windows use backslashes.
    static func isSafe(_ name: [UInt8]) -> Bool {
        let slash = UInt8(ascii: "/"), backslash = UInt8(ascii: "\\"), dot = UInt8(ascii: ".")
        if name.isEmpty || name.contains(0) { return false }
        if name[0] == slash || name[0] == backslash { return false }
        let isDriveLetter = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(name[0] & 0xDF)
        if name.count >= 2 && name[1] == UInt8(ascii: ":") && isDriveLetter { return false }
        let components = name.split(omittingEmptySubsequences: false) { $0 == slash || $0 == backslash }
        return !components.contains { $0.count == 2 && $0.allSatisfy { $0 == dot } }
    }
}
