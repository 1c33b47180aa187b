/// How normalised layers combine into one index.
public enum Combination: Sendable, Equatable, Hashable {
    /// Σ wᵢ·nᵢ with Σ wᵢ = 1.
    case weightedSum([Double])
}

/// The per-block kernel: normalise every layer, combine, apply the mask, classify.
/// Branch-free over SIMD8<Float> lanes; the tail goes through the same SIMD path on a padded
/// vector, so every pixel gets exactly the same arithmetic wherever it lies in a block.
public struct RiskKernel: Sendable {
    /// Index value written where the result is nodata.
    public static let indexNoData: Float = -9999
    /// Class value written where the result is nodata.
    public static let classNoData: UInt8 = 0

    @usableFromInline let normalizations: [CompiledNormalization]
    @usableFromInline let weights: [Float]
    @usableFromInline let breaks: [Float]

    public let layerCount: Int
    public var classCount: Int { breaks.count + 1 }

    /// - Parameters:
    ///   - normalizations: one per input layer, in input order.
    ///   - combination: how the normalised layers combine.
    ///   - breaks: increasing class breaks; class = 1 + number of breaks ≤ index.
    public init(normalizations: [Normalization], combination: Combination, breaks: [Double]) {
        precondition(!normalizations.isEmpty, "at least one layer")
        for n in normalizations { precondition(n.problem == nil, n.problem ?? "") }
        switch combination {
        case .weightedSum(let w):
            precondition(w.count == normalizations.count, "one weight per layer")
            weights = w.map(Float.init)
        }
        precondition(breaks.count <= 254, "at most 255 classes")
        precondition(zip(breaks, breaks.dropFirst()).allSatisfy { $0 < $1 }, "breaks must increase")
        self.normalizations = normalizations.map(CompiledNormalization.init)
        self.breaks = breaks.map(Float.init)
        self.layerCount = normalizations.count
    }

    /// Runs the kernel over `count` pixels.
    /// - Parameters:
    ///   - inputs: one buffer per layer (Float32 values on the grid, NaN/±inf = nodata), each ≥ count.
    ///   - mask: optional; 0 = outside (nodata), anything else = inside.
    ///   - index: receives the 0..1 index, `indexNoData` where nodata.
    ///   - classes: receives the class 1...classCount, `classNoData` where nodata.
    public func run(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<UInt8>?,
                    index: UnsafeMutableBufferPointer<Float>, classes: UnsafeMutableBufferPointer<UInt8>) {
        precondition(inputs.count == layerCount, "expected \(layerCount) input layers, got \(inputs.count)")
        precondition(inputs.allSatisfy { $0.count >= count } && index.count >= count && classes.count >= count)
        if let mask { precondition(mask.count >= count) }
        guard count > 0 else { return }
        let bases = inputs.map { UnsafeRawPointer($0.baseAddress!) }
        let full = count & ~7
        var i = 0
        while i < full {
            let m: SIMD8<Int32>
            if let mask {
                m = SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(mask.baseAddress! + i).loadUnaligned(as: SIMD8<UInt8>.self))
            } else {
                m = SIMD8(repeating: 1)
            }
            let offset = i * MemoryLayout<Float>.stride
            let (idx, cls) = lanes(mask: m) { l in bases[l].loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) }
            UnsafeMutableRawPointer(index.baseAddress! + i).storeBytes(of: idx, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(classes.baseAddress! + i).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: cls), as: SIMD8<UInt8>.self)
            i += 8
        }
        if i < count {
            let n = count - i
            var padded = [SIMD8<Float>](repeating: SIMD8(repeating: .nan), count: bases.count)
            var m = SIMD8<Int32>(repeating: 0)
            for lane in 0..<n {
                for l in 0..<bases.count { padded[l][lane] = inputs[l][i + lane] }
                m[lane] = Int32(mask.map { $0[i + lane] } ?? 1)
            }
            let (idx, cls) = lanes(mask: m) { l in padded[l] }
            for lane in 0..<n {
                index[i + lane] = idx[lane]
                classes[i + lane] = UInt8(truncatingIfNeeded: cls[lane])
            }
        }
    }

    /// Eight pixels through the whole kernel; `load(l)` gives layer l's eight values.
    @inlinable @inline(__always)
    func lanes(mask: SIMD8<Int32>, _ load: (Int) -> SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Int32>) {
        let infinity = SIMD8<Float>(repeating: .infinity)
        var valid = mask .!= SIMD8<Int32>(repeating: 0)
        var acc = SIMD8<Float>(repeating: 0)
        for l in 0..<normalizations.count {
            let v = load(l)
            // NaN fails every comparison, so this rejects NaN as well as ±inf.
            valid = valid .& (v .< infinity) .& (v .> -infinity)
            let n = normalizations[l].apply(v)
            acc = acc + n * SIMD8(repeating: weights[l])
        }
        valid = valid .& (acc .== acc)
        var cls = SIMD8<Int32>(repeating: 1)
        for b in breaks {
            cls &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: acc .>= SIMD8(repeating: b))
        }
        let index = SIMD8<Float>(repeating: RiskKernel.indexNoData).replacing(with: acc, where: valid)
        let classes = SIMD8<Int32>(repeating: Int32(RiskKernel.classNoData)).replacing(with: cls, where: valid)
        return (index, classes)
    }
}
