/// A CPU instruction level that the kernels are specialised for. Each ISA module
/// (AVX512, AVX2, Baseline) defines one conforming type; since the kernels are generic
/// and `@inlinable`, their bodies are compiled again inside that module, with that
/// module's `-target-cpu`.
public protocol InstructionLevel {
    /// Whether a fused multiply-add instruction exists. Without one, `addingProduct`
    /// becomes a library call per lane, so the kernels use a separate multiply and add.
    static var fusedMultiplyAdd: Bool { get }
    /// The width of the vector registers (512, 256 or 128 bits; 16 of them below 512):
    /// kernels that keep many vectors in registers pick their tile shape by it.
    static var vectorRegisterBits: Int { get }
    /// acc + the dot products of four unsigned bytes of `unsigned` with four signed
    /// bytes of `signed`, lane by lane (AVX-512 VNNI's vpdpbusd, without saturation).
    static func multiplyAddBytes(_ acc: SIMD16<Int32>, _ unsigned: SIMD16<Int32>, _ signed: SIMD16<Int32>) -> SIMD16<Int32>
}

public typealias Vector = SIMD16<Float>
public let vectorWidth = 16

extension InstructionLevel {
    /// The portable `multiplyAddBytes`: each byte widened to 32 bits, multiplied and
    /// added; the same exact integer sums as the instruction, at a quarter of its rate
    /// or less.
    @inlinable @inline(__always)
    public static func multiplyAddBytes(_ acc: SIMD16<Int32>, _ unsigned: SIMD16<Int32>, _ signed: SIMD16<Int32>) -> SIMD16<Int32> {
        var sum = acc
        sum &+= (unsigned & 0xFF) &* ((signed &<< 24) &>> 24)
        sum &+= ((unsigned &>> 8) & 0xFF) &* ((signed &<< 16) &>> 24)
        sum &+= ((unsigned &>> 16) & 0xFF) &* ((signed &<< 8) &>> 24)
        sum &+= ((unsigned &>> 24) & 0xFF) &* (signed &>> 24)
        return sum
    }

    @inlinable @inline(__always)
    public static func multiplyAdd(_ a: Vector, _ b: Vector, _ c: Vector) -> Vector {
        if fusedMultiplyAdd { return c.addingProduct(a, b) }
        return c + a * b
    }

    @inlinable @inline(__always)
    public static func multiplyAdd<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar == Float {
        if fusedMultiplyAdd { return c.addingProduct(a, b) }
        return c + a * b
    }
}

@inlinable @inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>) -> Vector {
    UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
}

@inlinable @inline(__always)
func storeVector(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
}
