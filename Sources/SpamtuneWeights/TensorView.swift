import Synchronization

/// A read-only Float tensor: a pointer into a memory-mapped file (zero copy) or into a
/// buffer converted from F16/BF16. It holds its owner, so a view can outlive the store it
/// came from without dangling.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let pointer: UnsafePointer<Float>
    public let count: Int
    private let owner: AnyObject

    /// `owner` must keep `pointer` valid for `count` elements for as long as it lives.
    public init(name: String, shape: [Int], pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        precondition(elementCount(of: shape) == count, "shape \(shape) does not hold \(count) elements")
        self.name = name
        self.shape = shape
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    /// A tensor that owns a copy of `values`: for tensors computed in memory (for example
    /// to be written with `SafetensorsWriter`).
    public init(name: String, shape: [Int], values: [Float]) {
        let storage = FloatStorage(copying: values)
        self.init(name: name, shape: shape, pointer: UnsafePointer(storage.pointer), count: values.count, owner: storage)
    }

    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }

    /// The same memory under another name and shape with the same element count (used to
    /// drop TensorFlow's leading 1 dimension and to rename to canonical names).
    public func renamed(_ newName: String, shape newShape: [Int]? = nil) -> TensorView {
        TensorView(name: newName, shape: newShape ?? shape, pointer: pointer, count: count, owner: owner)
    }

    public func toArray() -> [Float] { Array(buffer) }
}

/// Owned Float memory: conversion results and copies of unaligned tensors.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        // One element at least, so an empty tensor still has a valid address.
        pointer = .allocate(capacity: max(count, 1))
    }

    convenience init(copying values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.initialize(from: base, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }
}

/// The Float views of one store's tensors: the mapped bytes themselves where they are
/// aligned F32, otherwise a conversion made once per tensor and kept (concurrent first
/// uses wait for each other).
final class FloatViews: Sendable {
    private let converted = Mutex<[String: FloatStorage]>([:])

    /// `source`, `count` elements of `format`, lies in memory that `mapping` keeps valid.
    func view(
        name: String, shape: [Int], count: Int, source: UnsafeRawPointer?, format: StoredFloatFormat, mapping: AnyObject
    ) -> TensorView {
        if format == .float32, let source, Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
            return TensorView(name: name, shape: shape, pointer: source.assumingMemoryBound(to: Float.self), count: count, owner: mapping)
        }
        let storage = converted.withLock { cache in
            if let done = cache[name] { return done }
            let storage = FloatStorage(count: count)
            if count > 0 { format.widen(source!, count: count, into: storage.pointer) }
            cache[name] = storage
            return storage
        }
        return TensorView(name: name, shape: shape, pointer: UnsafePointer(storage.pointer), count: count, owner: storage)
    }
}

/// Anything that hands out named Float tensors: a safetensors file, a TensorFlow
/// checkpoint, or a renaming view over one of them.
public protocol TensorStore: AnyObject, Sendable {
    /// Where the tensors come from, for error messages.
    var path: String { get }
    /// Every tensor name, in a stable order.
    var names: [String] { get }
    /// The shape of a tensor without converting or touching its data; nil if absent.
    func shape(of name: String) -> [Int]?
    func tensor(named name: String) throws -> TensorView
}

extension TensorStore {
    public func contains(_ name: String) -> Bool { shape(of: name) != nil }
}
