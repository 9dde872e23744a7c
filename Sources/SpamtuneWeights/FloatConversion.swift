// Widening of 16-bit floats to Float, done on bits so it is exact and identical on every
// platform (Swift's Float16 is not available on every target), including subnormals,
// infinities and NaN payloads.

/// IEEE 754 binary16 -> binary32.
@inline(__always)
func floatFromHalfBits(_ half: UInt16) -> Float {
    let sign = UInt32(half & 0x8000) << 16
    let exponent = UInt32(half >> 10) & 0x1f
    let mantissa = UInt32(half & 0x3ff)
    if exponent == 0x1f {
        // Inf stays inf; NaN keeps its payload (and so stays NaN).
        return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // Zero or subnormal: mantissa * 2^-24, exact in binary32.
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    }
    // Rebias the exponent from 15 to 127.
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// bfloat16 is the upper half of a binary32.
@inline(__always)
func floatFromBFloat16Bits(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// The element formats a tensor file may hold, widened (or copied) to Float on load.
enum StoredFloatFormat {
    case float32, float16, bfloat16

    /// `source` may have any alignment: tensors inside a file are not guaranteed to be
    /// aligned to their element size.
    func widen(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .float16:
            for index in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                destination[index] = floatFromHalfBits(bits)
            }
        case .bfloat16:
            for index in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                destination[index] = floatFromBFloat16Bits(bits)
            }
        }
    }
}

#if _endian(big)
#error("SpamtuneWeights maps little-endian tensor data directly as Float; big-endian hosts are not supported")
#endif
