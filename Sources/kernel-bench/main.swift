// Kernel-only throughput against memory-copy bandwidth, measured in the same process on buffers
// far larger than the caches (so both are measured against main memory). Used by scripts/bench;
// prints one JSON object. Argument: pixel count (default 16 Mi).
import Foundation
import RasterKernel

let pixels = Int(CommandLine.arguments.dropFirst().first ?? "") ?? (16 << 20)
let rounds = 5
let block = 512 * 512

// Deterministic inputs shaped like the demo: a depth field, a 0..100 field, table values, a mask.
var flood = [Float](repeating: 0, count: pixels)
var fire = [Float](repeating: 0, count: pixels)
var seismic = [Float](repeating: 0, count: pixels)
var mask = [Float](repeating: 1, count: pixels)
for i in 0..<pixels {
    flood[i] = Float((i &* 7919) % 4000) / 1000
    fire[i] = Float((i &* 104729) % 10001) / 100
    seismic[i] = [0.05, 0.10, 0.15, 0.20][(i / 977) % 4]
    mask[i] = (i % 13 == 0) ? 0 : 1
}
let kernel = RiskKernel(
    normalizations: [.curve([.init(0, 0), .init(0.5, 0.3), .init(1.5, 0.7), .init(3, 1)]),
                     .linear(min: 0, max: 100),
                     .table([.init(0.05, 0.25), .init(0.10, 0.5), .init(0.15, 0.75), .init(0.20, 1.0)], default: 0)],
    combination: .weightedSum([0.45, 0.25, 0.30]), breaks: [0.25, 0.5, 0.75])
var index = [Float](repeating: 0, count: pixels)
var classes = [UInt8](repeating: 0, count: pixels)
// Bytes the kernel moves per pixel: 3 Float32 layers + Float32 mask in, Float32 index + class byte out.
let bytesPerPixel = 3 * 4 + 4 + 4 + 1

func seconds(_ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<rounds {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

let kernelSeconds = seconds {
    flood.withUnsafeBufferPointer { a in fire.withUnsafeBufferPointer { b in seismic.withUnsafeBufferPointer { c in
        mask.withUnsafeBufferPointer { m in index.withUnsafeMutableBufferPointer { ip in classes.withUnsafeMutableBufferPointer { cp in
            var start = 0
            while start < pixels {
                let n = min(block, pixels - start)
                let r = start..<(start + n)
                kernel.run(count: n, inputs: [UnsafeBufferPointer(rebasing: a[r]), UnsafeBufferPointer(rebasing: b[r]),
                                              UnsafeBufferPointer(rebasing: c[r])],
                           mask: UnsafeBufferPointer(rebasing: m[r]),
                           index: UnsafeMutableBufferPointer(rebasing: ip[r]), classes: UnsafeMutableBufferPointer(rebasing: cp[r]))
                start += n
            }
        } } } } } }
}

// The model kernel running the same weighted sum stated as an expression (issue: an expression equal
// to a weighted sum must run at ≥ 50 % of the fixed kernel's speed).
var program = ModelProgram()
let normalizations: [Normalization] = [.curve([.init(0, 0), .init(0.5, 0.3), .init(1.5, 0.7), .init(3, 1)]),
                                       .linear(min: 0, max: 100),
                                       .table([.init(0.05, 0.25), .init(0.10, 0.5), .init(0.15, 0.75), .init(0.20, 1.0)], default: 0)]
var registers: [String: Int] = [:]
for (l, (name, n)) in zip(["flood", "fire", "seismic"], normalizations).enumerated() {
    registers[name] = program.append(.normalize(layer: l, n))
}
let expression = try! IndexExpression.parse("0.45 * flood + 0.25 * fire + 0.30 * seismic")
let output = program.compile(expression, registers: registers)
let model = ModelKernel(program: program, layerCount: 3, output: output, breaks: [0.25, 0.5, 0.75])
var expressionIndex = [Float](repeating: 0, count: pixels)
var expressionClasses = [UInt8](repeating: 0, count: pixels)
let expressionSeconds = seconds {
    flood.withUnsafeBufferPointer { a in fire.withUnsafeBufferPointer { b in seismic.withUnsafeBufferPointer { c in
        mask.withUnsafeBufferPointer { m in expressionIndex.withUnsafeMutableBufferPointer { ip in expressionClasses.withUnsafeMutableBufferPointer { cp in
            var start = 0
            while start < pixels {
                let n = min(block, pixels - start)
                let r = start..<(start + n)
                _ = model.run(count: n, inputs: [UnsafeBufferPointer(rebasing: a[r]), UnsafeBufferPointer(rebasing: b[r]),
                                                 UnsafeBufferPointer(rebasing: c[r])],
                              mask: UnsafeBufferPointer(rebasing: m[r]),
                              index: UnsafeMutableBufferPointer(rebasing: ip[r]), classes: UnsafeMutableBufferPointer(rebasing: cp[r]))
                start += n
            }
        } } } } } }
}
// Same classes; the index within Float32 rounding (the expression rounds 0.45·flood before adding).
let classMismatches = zip(classes, expressionClasses).filter { $0 != $1 }.count
var expressionMaxDelta: Float = 0
for i in 0..<pixels where index[i] != RiskKernel.indexNoData { expressionMaxDelta = max(expressionMaxDelta, abs(index[i] - expressionIndex[i])) }

// memcpy moving the same traffic: half the bytes read, half written.
let copyBytes = bytesPerPixel * pixels / 2
let src = UnsafeMutableRawPointer.allocate(byteCount: copyBytes, alignment: 64)
let dst = UnsafeMutableRawPointer.allocate(byteCount: copyBytes, alignment: 64)
memset(src, 1, copyBytes); memset(dst, 0, copyBytes)
let copySeconds = seconds { memcpy(dst, src, copyBytes) }
let kernelGBs = Double(bytesPerPixel * pixels) / kernelSeconds / 1e9
let copyGBs = Double(2 * copyBytes) / copySeconds / 1e9
print("""
{"pixels": \(pixels), "threads": 1, "kernel_seconds": \(kernelSeconds), "kernel_mpixels_per_s": \(Double(pixels) / kernelSeconds / 1e6), \
"kernel_gb_per_s": \(kernelGBs), "memcpy_gb_per_s": \(copyGBs), "kernel_to_memcpy": \(kernelGBs / copyGBs), \
"expression_seconds": \(expressionSeconds), "expression_to_weighted_sum": \(kernelSeconds / expressionSeconds), \
"expression_class_mismatches": \(classMismatches), "expression_max_abs_diff": \(expressionMaxDelta)}
""")
