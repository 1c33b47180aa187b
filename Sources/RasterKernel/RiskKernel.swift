#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How normalised layers combine into one index.
public enum Combination: Sendable, Equatable, Hashable {
    /// Σ wᵢ·nᵢ with Σ wᵢ = 1.
    case weightedSum([Double])
    /// Π nᵢ, e.g. risk = hazard × exposure × vulnerability.
    case product
    /// maxᵢ nᵢ: the worst hazard decides.
    case maximum
    /// Π nᵢ^wᵢ with Σ wᵢ = 1 and every wᵢ > 0 (weighted geometric mean; 0 in any layer gives 0).
    case geometricMean([Double])
}

/// The per-block kernel: normalise every layer, combine, apply the mask, classify.
///
/// Works on strips of `stripLength` pixels that stay in L1: for each layer one SIMD pass
/// normalises the strip and adds it, weighted, into an accumulator; nodata travels as NaN (a
/// NaN or ±inf input, or a pixel outside the mask, makes the accumulator NaN). A last pass
/// classifies. The tail of a buffer goes through the same code on a padded copy, so every pixel
/// gets exactly the same arithmetic wherever it lies.
public struct RiskKernel: Sendable {
    /// Index value written where the result is nodata.
    public static let indexNoData: Float = -9999

    /// Whether `value` of an index raster is an index (finite, not `indexNoData`): the pixels the
    /// classes, histograms and statistics of an index count.
    @inline(__always) public static func isIndex(_ value: Float) -> Bool { value.isFinite && value != indexNoData }
    /// Class value written where the result is nodata.
    public static let classNoData: UInt8 = 0
    static let stripLength = 1024

    let normalizations: [CompiledNormalization]
    let weights: [Float]
    let operation: CombineOperation
    let breaks: [Float]

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
            operation = .weightedSum
        case .product:
            weights = normalizations.map { _ in 1 }
            operation = .product
        case .maximum:
            weights = normalizations.map { _ in 1 }
            operation = .maximum
        case .geometricMean(let w):
            precondition(w.count == normalizations.count && w.allSatisfy { $0 > 0 }, "one positive weight per layer")
            weights = w.map(Float.init)
            operation = .weightedLogSum
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
    ///   - mask: optional, one Float per pixel; 0 = outside (nodata), anything else = inside.
    ///   - index: receives the 0..1 index, `indexNoData` where nodata.
    ///   - classes: receives the class 1...classCount, `classNoData` where nodata.
    public func run(count: Int, inputs: [UnsafeBufferPointer<Float>], mask: UnsafeBufferPointer<Float>?,
                    index: UnsafeMutableBufferPointer<Float>, classes: UnsafeMutableBufferPointer<UInt8>) {
        precondition(inputs.count == layerCount, "expected \(layerCount) input layers, got \(inputs.count)")
        precondition(inputs.allSatisfy { $0.count >= count } && index.count >= count && classes.count >= count,
                     "buffers must hold at least count values")
        if let mask { precondition(mask.count >= count, "mask must hold at least count values") }
        guard count > 0 else { return }
        let strip = RiskKernel.stripLength
        withUnsafeTemporaryAllocation(of: Float.self, capacity: strip) { scratch in
            let acc = UnsafeMutableRawPointer(scratch.baseAddress!)
            var pointers = inputs.map { UnsafeRawPointer($0.baseAddress!) }
            let full = count & ~7
            var start = 0
            while start < full {
                let n = min(strip, full - start)
                for l in 0..<pointers.count { pointers[l] = UnsafeRawPointer(inputs[l].baseAddress! + start) }
                self.strip(pointers, mask: mask.map { UnsafeRawPointer($0.baseAddress! + start) },
                           index: UnsafeMutableRawPointer(index.baseAddress! + start),
                           classes: UnsafeMutableRawPointer(classes.baseAddress! + start),
                           vectors: n / 8, acc: acc)
                start += n
            }
            if full < count {
                // The last 1...7 pixels: padded copies through the same strip code.
                let n = count - full
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * (pointers.count + 2)) { pad in
                    let base = pad.baseAddress!
                    base.initialize(repeating: .nan, count: pad.count)
                    for l in 0..<pointers.count {
                        for k in 0..<n { base[l * 8 + k] = inputs[l][full + k] }
                        pointers[l] = UnsafeRawPointer(base + l * 8)
                    }
                    let maskPad = base + pointers.count * 8
                    let indexPad = maskPad + 8
                    for k in 0..<8 { maskPad[k] = k < n ? (mask?[full + k] ?? 1) : 0 }
                    var classPad = SIMD8<UInt8>()
                    withUnsafeMutableBytes(of: &classPad) { cp in
                        self.strip(pointers, mask: UnsafeRawPointer(maskPad), index: UnsafeMutableRawPointer(indexPad),
                                   classes: cp.baseAddress!, vectors: 1, acc: acc)
                    }
                    for k in 0..<n {
                        index[full + k] = indexPad[k]
                        classes[full + k] = classPad[k]
                    }
                }
            }
        }
    }

    /// `vectors`×8 pixels through the whole kernel.
    @inline(__always)
    func strip(_ inputs: [UnsafeRawPointer], mask: UnsafeRawPointer?, index: UnsafeMutableRawPointer,
               classes: UnsafeMutableRawPointer, vectors: Int, acc: UnsafeMutableRawPointer) {
        let stride = MemoryLayout<V>.stride
        let nan = V(repeating: .nan), zero = V(repeating: 0)
        for l in 0..<inputs.count {
            let n = normalizations[l]
            switch operation {
            case .weightedSum:
                // The common case keeps its own loop (a generic fold here halves the kernel's speed).
                n.accumulate(inputs[l], into: acc, weight: weights[l], first: l == 0, vectors: vectors)
            case .product: n.accumulate(ProductFold.self, inputs[l], into: acc, weight: weights[l], first: l == 0, vectors: vectors)
            case .maximum: n.accumulate(MaximumFold.self, inputs[l], into: acc, weight: weights[l], first: l == 0, vectors: vectors)
            case .weightedLogSum:
                n.accumulate(WeightedLogSumFold.self, inputs[l], into: acc, weight: weights[l], first: l == 0, vectors: vectors)
            }
        }
        if operation == .weightedLogSum {
            for j in 0..<vectors {
                var a = acc.load(fromByteOffset: j * stride, as: V.self)
                for lane in 0..<8 { a[lane] = expf(a[lane]) }
                acc.storeBytes(of: a, toByteOffset: j * stride, as: V.self)
            }
        }
        let noData = V(repeating: RiskKernel.indexNoData)
        for j in 0..<vectors {
            var a = acc.load(fromByteOffset: j * stride, as: V.self)
            if let mask {
                a = nan.replacing(with: a, where: mask.loadUnaligned(fromByteOffset: j * stride, as: V.self) .!= zero)
            }
            let valid = a .== a
            var c = SIMD8<Int32>(repeating: 1)
            for b in breaks { c &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: a .>= V(repeating: b)) }
            c = SIMD8<Int32>(repeating: 0).replacing(with: c, where: valid)
            index.storeBytes(of: noData.replacing(with: a, where: valid), toByteOffset: j * stride, as: V.self)
            let narrow = SIMD8<UInt8>(truncatingIfNeeded: c)
            classes.storeBytes(of: narrow, toByteOffset: j * 8, as: SIMD8<UInt8>.self)
        }
    }
}
