import Foundation
import GDALKit
import RasterKernel
import Yams

// Prevention zoning (综合防治区划): the job's risk class combined with further classified factors
// (exposure, distance to shelter, …) by a decision matrix written in the job. This file holds the
// job model; `JobLoader+Prevention.swift` its validation, `Proximity.swift` the distance alignment,
// `PreventionStage.swift` the run.

extension JobSpec {
    /// A further factor of the prevention matrix: a layer classified into levels 1…n.
    public struct Factor: Sendable {
        public enum Kind: String, Sendable { case value, proximity }
        /// The factor's name in the job (`exposure`), a dimension of the matrix.
        public let name: String
        public let definition: LayerDefinition
        /// `value`: the layer's values on the grid; `proximity`: the distance to its nearest feature.
        public let kind: Kind
        /// Level = 1 + number of breaks ≤ value (compared in Float32, like the risk classes).
        public let breaks: [Double]
        public let resampling: Resampling
        public let errorThreshold: Double
        /// Vectors by attribute: burn every touched pixel. Proximity always rasterises all-touched.
        public let allTouched: Bool
        public let position: Position
        public var levels: Int { breaks.count + 1 }
    }

    public struct Category: Sendable, Equatable {
        public let value: Int
        public let name: String
        public let english: String?
        public let red: UInt8, green: UInt8, blue: UInt8
        public var label: String { english.map { "\(name) \($0)" } ?? name }
    }

    /// One row of the decision matrix: a set of levels per dimension (nil = any) and the category.
    public struct MatrixRule: Sendable, Equatable {
        /// One entry per dimension: risk first, then the factors in job order.
        public let levels: [Set<Int>?]
        public let category: Int
        public let line: Int

        public func matches(_ cell: [Int]) -> Bool {
            zip(levels, cell).allSatisfy { $0.0?.contains($0.1) ?? true }
        }
    }

    public struct Prevention: Sendable {
        public let factors: [Factor]
        public let categories: [Category]
        public let rules: [MatrixRule]
        /// Risk levels 1…riskLevels (the classification scheme's classes).
        public let riskLevels: Int
        /// The category of every cell, first matching rule; index = Σ (level − 1) · stride,
        /// risk slowest, the last factor fastest.
        public let table: [UInt8]

        /// Levels per dimension: risk, then each factor.
        public var dimensions: [Int] { [riskLevels] + factors.map(\.levels) }

        /// The category of one cell (levels start at 1).
        public func category(risk: Int, levels: [Int]) -> Int {
            var index = risk - 1
            for (f, l) in zip(factors, levels) { index = index * f.levels + (l - 1) }
            return Int(table[index])
        }

        /// The first rule matching each cell, nil where none does; cells in table order.
        static func evaluate(_ rules: [MatrixRule], dimensions: [Int]) -> [Int?] {
            let total = dimensions.reduce(1, *)
            var result: [Int?] = []
            result.reserveCapacity(total)
            var cell = dimensions.map { _ in 1 }
            for _ in 0..<total {
                result.append(rules.first { $0.matches(cell) }?.category)
                var d = dimensions.count - 1
                while d >= 0 {
                    cell[d] += 1
                    if cell[d] <= dimensions[d] { break }
                    cell[d] = 1
                    d -= 1
                }
            }
            return result
        }

        /// The demo's three categories, used when a job gives none.
        public static let defaultCategories: [Category] = [
            Category(value: 1, name: "重点防治区", english: "key prevention zone", red: 230, green: 0, blue: 0),
            Category(value: 2, name: "次重点防治区", english: "secondary prevention zone", red: 255, green: 170, blue: 0),
            Category(value: 3, name: "一般防治区", english: "general prevention zone", red: 56, green: 168, blue: 0),
        ]

        /// GDAL colour table, index = pixel value; 0 and unused values are transparent.
        public var colorTable: [(UInt8, UInt8, UInt8, UInt8)] {
            let top = categories.map(\.value).max() ?? 0
            return (0...top).map { v in
                categories.first { $0.value == v }.map { ($0.red, $0.green, $0.blue, 255) } ?? (0, 0, 0, 0)
            }
        }

        /// GDAL category names, index = pixel value (0 = nodata).
        public var categoryNames: [String] {
            let top = categories.map(\.value).max() ?? 0
            return (0...top).map { v in v == 0 ? "nodata" : categories.first { $0.value == v }?.label ?? "" }
        }
    }

    /// Cells of a matrix beyond this are refused (the lookup table stays small).
    static let maxMatrixCells = 1 << 20
}

extension JobLoader {
    /// `normalize:` of a layer, which may wrap a curve or linear form in `proximity:` (the values are
    /// then the distance from each pixel to the layer's nearest feature, in grid CRS units).
    /// A layer's `normalize:` — returns the normalisation, whether it is a distance (`proximity`)
    /// and whether its range comes from the data (`min-max: data`; the normalisation is then a
    /// placeholder filled in by the run's statistics pass).
    func parseLayerNormalization(_ node: YNode?, gridCRS: String?) -> (Normalization?, Bool, Bool) {
        guard let node else { return (nil, false, false) }
        if case .mapping(let map) = node.node, map.contains(where: { $0.key.string == "min-max" }) {
            guard let obj = node.object(allowed: ["min-max"]), let value = obj["min-max"] else { return (nil, false, true) }
            guard let text = value.string() else { return (nil, false, true) }
            guard text == "data" else {
                value.error("min-max takes data (the layer's own range over its valid pixels on the grid inside the mask), got \(value.describe); for fixed bounds use linear: [min, max]")
                return (nil, false, true)
            }
            return (.linear(min: 0, max: 1), false, true)
        }
        guard case .mapping(let map) = node.node, map.contains(where: { $0.key.string == "proximity" }) else {
            return (parseNormalization(node), false, false)
        }
        guard let obj = node.object(allowed: ["proximity"]), let inner = obj["proximity"] else { return (nil, true, false) }
        if case .mapping(let m) = inner.node, m.contains(where: { $0.key.string == "table" || $0.key.string == "default" }) {
            inner.error("proximity takes curve or linear (a distance is continuous)")
            return (nil, true, false)
        }
        return (parseNormalization(inner), true, false)
    }
}
