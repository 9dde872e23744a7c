// GELU, tanh form (GPT-2's "gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

@inlinable
public func geluForward<L: InstructionLevel>(
    _ level: L.Type, output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, range: Range<Int>
) {
    var i = range.lowerBound
    while i + vectorWidth <= range.upperBound {
        let x = loadVector(input + i)
        let x2: Vector = x * x
        let inner: Vector = 0.797_884_56 * L.multiplyAdd(0.044_715 * x2, x, x)
        let half: Vector = 0.5 * x
        storeVector(half * (1 + vectorTanh(inner)), output + i)
        i += vectorWidth
    }
    while i < range.upperBound {
        let x = input[i]
        output[i] = 0.5 * x * (1 + tanhf(scalarGeluTanhArgument(x)))
        i += 1
    }
}

/// dInput = dOutput * gelu'(input) (overwrites; the MLP's pre-activation gradient has
/// no other contribution).
@inlinable
public func geluBackward<L: InstructionLevel>(
    _ level: L.Type, dInput: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
    dOutput: UnsafePointer<Float>, range: Range<Int>
) {
    var i = range.lowerBound
    while i + vectorWidth <= range.upperBound {
        let x = loadVector(input + i)
        let x2: Vector = x * x
        let t: Vector = vectorTanh(0.797_884_56 * L.multiplyAdd(0.044_715 * x2, x, x))
        let slope: Vector = (0.5 * 0.797_884_56) * x * (1 - t * t) * (1 + 0.134_145 * x2)
        let derivative: Vector = 0.5 * (1 + t) + slope
        storeVector(derivative * loadVector(dOutput + i), dInput + i)
        i += vectorWidth
    }
    while i < range.upperBound {
        let x = input[i]
        let t = tanhf(scalarGeluTanhArgument(x))
        let slope: Float = 0.5 * 0.797_884_56 * x * (1 - t * t) * (1 + 0.134_145 * x * x)
        dInput[i] = (0.5 * (1 + t) + slope) * dOutput[i]
        i += 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
