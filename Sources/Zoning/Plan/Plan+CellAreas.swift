import Foundation
import RasterKernel

extension Plan {
    /// Every cell's area in m²: the constant pixel area of a projected grid (map units taken as
    /// metres, as always), the exact ellipsoidal area of each row's cells on a lat/long grid.
    var cellAreas: CellAreas {
        if let ellipsoid { return CellAreas(geographic: grid, ellipsoid: ellipsoid) }
        return CellAreas(projected: grid)
    }

    /// The area (m²) of the cells `sieveThresholdPixels` counts: the pixel area of a projected grid
    /// (GDAL's sieve counts cells); on a lat/long grid, whose sieve measures each region's area
    /// (`sieveInMemory`), the mean cell area of the grid's rows, for the manifest only.
    var sieveCellArea: Double { cellAreas.mean }
}

extension Plan {
    /// The `plan` line of a lat/long grid: how areas and distances are measured.
    func geodesySummary(_ e: Ellipsoid) -> String {
        let areas = cellAreas
        return "  areas: each cell's ellipsoidal area (a = \(formatNumber(e.a)) m, 1/f = \(formatNumber(1 / e.f))): "
            + "\(formatNumber(areas.smallest / 10_000))…\(formatNumber(areas.largest / 10_000)) ha by row; distances in geodesic metres"
    }
}
