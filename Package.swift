// swift-tools-version:6.0
//
// spamtune: a GPT-2 spam filter for mail servers. No package dependencies: the Swift
// toolchain and the system's libraries only.
//
// Build settings, and why (measured by `bench/run`, see README "Speed and memory"):
// - The numeric kernels are written once, generically over an instruction-set marker
//   (Sources/SpamtuneKernels/Core), and specialised three times, each in a module
//   compiled for one CPU level: AVX-512, AVX2+FMA, and the x86-64 baseline. The
//   dispatcher picks one at run time from the CPU's features, so one binary is both
//   fast here and correct everywhere. Swift SIMD code built without a target CPU
//   cannot use FMA instructions and runs far slower where it needs them, hence the
//   split.
// - The kernel modules are built -Ounchecked (no overflow traps or bounds checks in
//   inner loops) in every configuration, so even debug test builds run them at speed.
//   Each ISA module is one file (Sources/SpamtuneKernels/Specialization, symlinked):
//   debug builds compile file by file, and a level marker defined in another file
//   would not inline into the kernels (README, "How it is built").
import PackageDescription

#if arch(x86_64)
let avx512Flags = ["-target-cpu", "skylake-avx512"]
// VNNI's vpdpbusd for the int8 GEMM, through the Clang importer's intrinsics (which it
// offers only when the target has the feature); the rest of the code is the same as
// AVX-512's. A module of its own, so that no VNNI instruction reaches a CPU without it.
let avx512VNNIFlags = avx512Flags + ["-Xcc", "-mavx512vnni"]
let avx2Flags = ["-target-cpu", "haswell"]
#else
let avx512Flags: [String] = []
let avx512VNNIFlags: [String] = []
let avx2Flags: [String] = []
#endif
let kernelFlags = ["-Ounchecked", "-enforce-exclusivity=unchecked"]

func kernelTarget(_ name: String, _ folder: String, _ cpuFlags: [String], defines: [String]) -> Target {
    .target(
        name: name, dependencies: ["SpamtuneKernelCore"], path: "Sources/SpamtuneKernels/\(folder)",
        swiftSettings: [.unsafeFlags(kernelFlags + cpuFlags)] + defines.map { .define($0) })
}

let package = Package(
    name: "spamtune",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spamtuned", targets: ["spamtuned"]),
        .executable(name: "spamtune-train", targets: ["spamtune-train"]),
        .executable(name: "spamtune", targets: ["spamtune"]),
        .executable(name: "spamtune-bench", targets: ["spamtune-bench"]),
        // Writes the man pages (scripts/man-pages); built, never installed.
        .executable(name: "spamtune-man", targets: ["spamtune-man"]),
    ],
    targets: [
        // Numeric kernels: GEMM, LayerNorm, GELU, softmax, attention.
        .target(name: "SpamtuneKernelCore", path: "Sources/SpamtuneKernels/Core", swiftSettings: [.unsafeFlags(kernelFlags)]),
        kernelTarget("SpamtuneKernelsAVX512VNNI", "AVX512VNNI", avx512VNNIFlags, defines: ["SPAMTUNE_FMA", "SPAMTUNE_AVX512", "SPAMTUNE_VNNI"]),
        kernelTarget("SpamtuneKernelsAVX512", "AVX512", avx512Flags, defines: ["SPAMTUNE_FMA", "SPAMTUNE_AVX512"]),
        kernelTarget("SpamtuneKernelsAVX2", "AVX2", avx2Flags, defines: ["SPAMTUNE_FMA", "SPAMTUNE_AVX2"]),
        kernelTarget("SpamtuneKernelsBaseline", "Baseline", [], defines: []),
        .target(
            name: "SpamtuneKernels",
            dependencies: [
                "SpamtuneKernelCore", "SpamtuneKernelsAVX512VNNI", "SpamtuneKernelsAVX512", "SpamtuneKernelsAVX2", "SpamtuneKernelsBaseline",
            ],
            path: "Sources/SpamtuneKernels/Dispatch",
            swiftSettings: [.unsafeFlags(kernelFlags)]),

        // The system's libbz2 (every Debian has it), for the mail corpus's .tar.bz2 files.
        .systemLibrary(name: "CBZip2", path: "Sources/CBZip2", providers: [.apt(["libbz2-dev"])]),
        // Shared small pieces: SHA-256, memory-mapped files, zip, tar and bzip2 reading.
        .target(name: "SpamtuneSupport", dependencies: ["CBZip2"]),
        // GPT-2 byte-level BPE.
        .target(name: "SpamtuneTokenizer", dependencies: ["SpamtuneSupport"]),
        // safetensors and TensorFlow checkpoint reading and writing, model configs.
        .target(name: "SpamtuneWeights", dependencies: ["SpamtuneSupport"]),
        // GPT-2: parameters, forward, backward, AdamW.
        .target(name: "SpamtuneModel", dependencies: ["SpamtuneKernels", "SpamtuneWeights", "SpamtuneSupport"]),
        // RFC 5322 / MIME -> the text the model reads; mailbox readers.
        .target(name: "SpamtuneMail", dependencies: ["SpamtuneSupport"]),
        // text -> verdict: layout + tokenizer + model + threshold.
        .target(
            name: "SpamtuneClassifier",
            dependencies: ["SpamtuneModel", "SpamtuneKernels", "SpamtuneTokenizer", "SpamtuneMail", "SpamtuneWeights", "SpamtuneSupport"]),

        // Training pipeline: data, downloads, fine-tuning, reports, checkpoints, schedule.
        .target(
            name: "SpamtuneTrain",
            dependencies: [
                "SpamtuneClassifier", "SpamtuneMail", "SpamtuneModel", "SpamtuneKernels", "SpamtuneTokenizer", "SpamtuneWeights",
                "SpamtuneSupport",
            ],
            resources: [.copy("Resources/sms-spam-collection"), .copy("Resources/gpt2-tokenizer")]),
        // etc/spamtune.conf: the file format, its keys, listen addresses and value parsing.
        // Read by spamtuned, spamtune-train --config and spamtune (the control socket's path).
        .target(name: "SpamtuneConfiguration", dependencies: ["SpamtuneSupport"]),
        // The control socket's JSON-lines protocol and its client (spamtune status|reload|retrain,
        // spamtune-train's reload after a promotion); the server is the daemon's.
        .target(name: "SpamtuneControl", dependencies: ["SpamtuneConfiguration", "SpamtuneSupport"]),
        // The daemon: milter, spamd protocol, Maildir watcher, control server, service loop.
        .target(
            name: "SpamtuneDaemon",
            dependencies: ["SpamtuneConfiguration", "SpamtuneControl", "SpamtuneClassifier", "SpamtuneMail", "SpamtuneSupport"]),

        // The command lines of spamtuned and spamtune (spamtune-train's is SpamtuneTrain's):
        // option tables and usage texts, read by the tools and by spamtune-man.
        .target(name: "SpamtuneCommandLines", dependencies: ["SpamtuneClassifier", "SpamtuneSupport"]),

        .executableTarget(
            name: "spamtune",
            dependencies: ["SpamtuneCommandLines", "SpamtuneConfiguration", "SpamtuneControl", "SpamtuneClassifier", "SpamtuneMail", "SpamtuneSupport"]),
        .executableTarget(
            name: "spamtuned",
            dependencies: ["SpamtuneCommandLines", "SpamtuneDaemon", "SpamtuneConfiguration", "SpamtuneClassifier", "SpamtuneSupport"]),
        .executableTarget(
            name: "spamtune-train",
            dependencies: ["SpamtuneTrain", "SpamtuneConfiguration", "SpamtuneControl", "SpamtuneClassifier", "SpamtuneSupport"]),
        .executableTarget(
            name: "spamtune-bench",
            dependencies: [
                "SpamtuneTestClients", "SpamtuneDaemon", "SpamtuneConfiguration", "SpamtuneClassifier", "SpamtuneModel", "SpamtuneKernels",
                "SpamtuneTokenizer", "SpamtuneMail", "SpamtuneWeights", "SpamtuneSupport",
            ]),

        // The man pages, written from the tables the tools use: option tables, configuration
        // keys (and etc/spamtune.conf, which documents them). Linked by spamtune-man and the
        // tests only, so the installed binaries carry no roff.
        .target(name: "SpamtuneManual", dependencies: ["SpamtuneCommandLines", "SpamtuneTrain", "SpamtuneConfiguration", "SpamtuneSupport"]),
        .executableTarget(name: "spamtune-man", dependencies: ["SpamtuneManual"]),

        // MTA-side clients that drive a running daemon: for the tests and spamtune-bench, never
        // linked into a product binary.
        .target(name: "SpamtuneTestClients", dependencies: ["SpamtuneDaemon", "SpamtuneConfiguration", "SpamtuneControl", "SpamtuneSupport"]),

        // Tests.
        .target(
            name: "SpamtuneTestSupport", dependencies: ["SpamtuneClassifier", "SpamtuneModel", "SpamtuneWeights", "SpamtuneSupport"],
            path: "Tests/SpamtuneTestSupport"),
        .testTarget(name: "SpamtuneSupportTests", dependencies: ["SpamtuneSupport", "SpamtuneTestSupport"]),
        .testTarget(name: "SpamtuneKernelsTests", dependencies: ["SpamtuneKernels", "SpamtuneKernelCore", "SpamtuneTestSupport"]),
        .testTarget(name: "SpamtuneTokenizerTests", dependencies: ["SpamtuneTokenizer", "SpamtuneTestSupport"]),
        .testTarget(name: "SpamtuneWeightsTests", dependencies: ["SpamtuneWeights", "SpamtuneTestSupport"]),
        .testTarget(
            name: "SpamtuneModelTests",
            dependencies: ["SpamtuneModel", "SpamtuneKernels", "SpamtuneWeights", "SpamtuneSupport", "SpamtuneTestSupport"]),
        .testTarget(name: "SpamtuneMailTests", dependencies: ["SpamtuneMail", "SpamtuneTestSupport"]),
        .testTarget(
            name: "SpamtuneClassifierTests",
            dependencies: ["SpamtuneClassifier", "SpamtuneModel", "SpamtuneKernels", "SpamtuneWeights", "SpamtuneTestSupport"]),
        .testTarget(
            name: "SpamtuneTrainTests",
            dependencies: [
                "SpamtuneTrain", "SpamtuneClassifier", "SpamtuneModel", "SpamtuneKernels", "SpamtuneWeights", "SpamtuneSupport",
                "SpamtuneTestSupport",
            ]),
        .testTarget(
            name: "SpamtuneManualTests",
            dependencies: ["SpamtuneManual", "SpamtuneCommandLines", "SpamtuneTrain", "SpamtuneConfiguration", "SpamtuneSupport", "SpamtuneTestSupport"]),
        .testTarget(
            name: "SpamtuneDaemonTests",
            dependencies: [
                "SpamtuneDaemon", "SpamtuneConfiguration", "SpamtuneControl", "SpamtuneTestClients", "SpamtuneTrain", "SpamtuneClassifier",
                "SpamtuneModel", "SpamtuneMail", "SpamtuneWeights", "SpamtuneSupport", "SpamtuneTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v5]
)
