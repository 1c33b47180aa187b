import Cartography
import COGWriter
import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension Manifest {
    /// The class-stability analysis: the scenarios with their weights and breaks, and what stayed.
    public struct SensitivityInfo: Codable, Sendable, Equatable {
        public struct Scenario: Codable, Sendable, Equatable {
            public var kind: String
            public var member: String?
            public var sign: Int?
            public var weights: [Double]
            public var breaks: [Double]
            /// Valid pixels whose class equals the baseline's.
            public var sameClassPixels: Int
        }
        public var index: String
        public var members: [String]
        public var baselineWeights: [Double]
        public var perturb: Double
        public var samples: Int
        public var seed: UInt64
        public var concentration: Double
        public var scenarios: [Scenario]
        public var validPixels: Int
        /// Pixels whose class is the same in every scenario, in at least 80 %, in under 50 %.
        public var stablePixels: Int
        public var atLeast80Pixels: Int
        public var below50Pixels: Int
        /// Townships whose level changes in some scenario.
        public var townshipsChanging: [String]?
    }
}
