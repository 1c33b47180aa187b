import COGWriter
import Foundation
import GDALKit
import RasterKernel

extension Manifest {
    /// The risk model as applied: every normalisation with its range, every combination with the
    /// weights actually used (fixed, AHP or computed from the data), and what the kernel counted.
    public struct ModelInfo: Codable, Sendable, Equatable {
        public struct Layer: Codable, Sendable, Equatable {
            public var key: String
            /// curve, linear, table, proximity-curve, proximity-linear or min-max-data.
            public var normalization: String
            /// linear and min-max: the bounds applied.
            public var minimum: Double?
            public var maximum: Double?
            public var direction: String
            public var resampling: String
            public var errorThreshold: Double
        }
        public struct Node: Codable, Sendable, Equatable {
            public var name: String
            public var form: String
            public var members: [String]
            public var weights: [Double]?
            public var formula: String
            public var direction: String
            public var ahpConsistencyRatio: Double?
            /// Entropy: the subjective prior, the entropies eⱼ, divergences dⱼ, objective weights and pixels used.
            public var prior: [Double]?
            public var entropy: [Double]?
            public var divergence: [Double]?
            public var objectiveWeights: [Double]?
            public var entropyPixels: Int?
        }
        /// `fixed` (the v1 kernel) or `model` (the compiled model kernel).
        public var kernel: String
        public var layers: [Layer]
        public var indices: [Node]
        public var combine: Node
        /// Pixels whose every input was valid but whose result was NaN or ±inf (written as nodata).
        public var nonFiniteResults: Int
        /// Statistics passes over the aligned layers before the main pass.
        public var statisticsPasses: Int
    }
}
