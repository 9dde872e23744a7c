import Foundation
import SpamtuneKernelCore
import SpamtuneKernelsAVX2
import SpamtuneKernelsAVX512
import SpamtuneKernelsAVX512VNNI
import SpamtuneKernelsBaseline

/// The instruction levels the kernels are built for. The best one the CPU and kernel
/// support is chosen at start; `SPAMTUNE_ISA=avx512` (or `avx2`, `baseline`) forces a
/// lower one, for comparison and for tests of the portable paths. `avx512vnni` differs
/// from `avx512` only in the int8 GEMM's byte dot products.
public enum InstructionSet: String, CaseIterable, Sendable {
    case avx512vnni, avx512, avx2, baseline

    var kernels: any KernelSet.Type {
        switch self {
        case .avx512vnni: SpamtuneKernelsAVX512VNNI.SpecializedKernels.self
        case .avx512: SpamtuneKernelsAVX512.SpecializedKernels.self
        case .avx2: SpamtuneKernelsAVX2.SpecializedKernels.self
        case .baseline: SpamtuneKernelsBaseline.SpecializedKernels.self
        }
    }

    /// What this machine can run, best first.
    public static let supported: [InstructionSet] = {
        #if arch(x86_64)
        let flags = cpuFlags()
        var levels: [InstructionSet] = []
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd", "fma", "avx2"].allSatisfy(flags.contains) {
            if flags.contains("avx512_vnni") { levels.append(.avx512vnni) }
            levels.append(.avx512)
        }
        if ["avx2", "fma", "bmi2"].allSatisfy(flags.contains) { levels.append(.avx2) }
        return levels + [.baseline]
        #else
        // Other architectures build every module for the host's default CPU.
        return [.baseline]
        #endif
    }()

    /// The level used unless a caller asks for another: the best supported, or the one
    /// named by SPAMTUNE_ISA if this machine supports it.
    public static let preferred: InstructionSet = {
        if let name = ProcessInfo.processInfo.environment["SPAMTUNE_ISA"], let forced = InstructionSet(rawValue: name),
            supported.contains(forced)
        {
            return forced
        }
        return supported[0]
    }()

    /// Linux reports in /proc/cpuinfo only the features the kernel has enabled (AVX-512
    /// state saving included), which is exactly what is safe to use.
    private static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
