import Foundation
import FilePaths
import GDALKit
import RasterKernel

extension Manifest {
    /// One exposure total of a run: the banner-wide sums (inside the mask) per class.
    public struct TotalInfo: Codable, Sendable, Equatable {
        public struct ClassTotal: Codable, Sendable, Equatable { public var value: Int; public var name: String; public var total: Double }
        public var name: String
        public var layer: String
        public var measure: String
        public var units: String?
        public var resampling: String
        /// The warped value of a pixel times this is the quantity in the pixel.
        public var pixelFactor: Double
        /// Inside the mask (the whole grid without one).
        public var total: Double
        public var classes: [ClassTotal]
        /// Inside the mask where the risk class is nodata (some hazard layer has no data).
        public var unclassified: Double
        /// Over every township (each pixel counted in the township whose polygon holds its centre).
        public var townships: Double
        /// Over the whole grid, mask or not.
        public var grid: Double
        /// Pixels inside the mask where the layer itself has no data (they count 0).
        public var nodataPixels: Int
    }
}
