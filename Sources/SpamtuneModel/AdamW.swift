/// AdamW as torch.optim.AdamW computes it (Loshchilov & Hutter; PyTorch's defaults
/// betas (0.9, 0.999), eps 1e-8): weight decay is decoupled, applied to the parameter
/// before the Adam update, and the moments are bias-corrected.
public struct AdamWSettings: Codable, Equatable, Sendable {
    public var learningRate: Float
    public var weightDecay: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float

    /// The book's settings: lr 5e-5, weight decay 0.1.
    public static let book = AdamWSettings(learningRate: 5e-5, weightDecay: 0.1)

    public init(learningRate: Float, weightDecay: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

public final class AdamW {
    public var settings: AdamWSettings
    public private(set) var step = 0
    private let firstMoment: FloatBuffer
    private let secondMoment: FloatBuffer
    private let count: Int

    public init(parameterCount: Int, settings: AdamWSettings) {
        self.settings = settings
        count = parameterCount
        firstMoment = FloatBuffer(count: parameterCount)
        secondMoment = FloatBuffer(count: parameterCount)
        firstMoment.pointer.update(repeating: 0, count: parameterCount)
        secondMoment.pointer.update(repeating: 0, count: parameterCount)
    }

    /// Parameters whose steps are a multiple of the learning rate's (their weight decay
    /// stays the others'): a linear part that must move much further than the
    /// transformer's weights in the same number of steps.
    public var learningRateScales: [(range: Range<Int>, scale: Float)] = []

    /// One update of `parameters` from `gradients` (both `parameterCount` floats).
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        step += 1
        var start = 0
        for (range, scale) in learningRateScales.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            update(parameters, gradients, start..<range.lowerBound, learningRate: settings.learningRate)
            update(parameters, gradients, range, learningRate: settings.learningRate * scale)
            start = range.upperBound
        }
        update(parameters, gradients, start..<count, learningRate: settings.learningRate)
    }

    private func update(
        _ parameters: UnsafeMutablePointer<Float>, _ gradients: UnsafePointer<Float>, _ range: Range<Int>, learningRate: Float
    ) {
        let s = settings
        let t = Double(step)
        let correction1 = Float(1 - pow(Double(s.beta1), t))
        let correction2Root = Float((1 - pow(Double(s.beta2), t)).squareRoot())
        let stepSize = learningRate / correction1
        let decay = 1 - s.learningRate * s.weightDecay
        let m = firstMoment.pointer, v = secondMoment.pointer
        for i in range {
            let g = gradients[i]
            parameters[i] *= decay
            m[i] = s.beta1 * m[i] + (1 - s.beta1) * g
            v[i] = s.beta2 * v[i] + (1 - s.beta2) * g * g
            let denominator = v[i].squareRoot() / correction2Root + s.epsilon
            parameters[i] -= stepSize * m[i] / denominator
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
