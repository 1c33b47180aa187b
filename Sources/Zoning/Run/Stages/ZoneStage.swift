import Foundation
import GDALKit
import RasterKernel

/// The zone stage: the class raster generalised (majority filter, minimum mapping unit) into
/// `risk_zones.tif` and its polygons cut by township into `zones.gpkg`.
struct ZoneStage: Stage {
    let env: RunEnvironment
    init(_ env: RunEnvironment) { self.env = env }

    var name: String { "zone" }
    var reads: [RunProduct] { [.classRaster, .townshipGrid] }
    var produces: [RunProduct] { [.zones] }

    func run(_ context: RunContext) throws {
        guard let zoning = plan.job.zoning else { return }
        var features: Int?
        var minArea = zoning.minAreaHectares
        if plan.job.outputs.products.contains(.riskZones) {
            let files = context.files
            let zonesTmp = files.temporary("risk_zones.tif")
            let runID = context.runID, townships = context.townshipGrid
            // The print scale's unit (a map layout) is found beside the majority filter when only
            // the sieve within townships needs it.
            let layoutAside = zoning.minAreaHectares == nil && plan.job.product != nil && townships != nil
            let unit = layoutAside ? BackgroundTask(gdalConfig: plan.job.gdalConfig) { [self] in
                try timed("minimum area") { try effectiveMinAreaHectares(classPath: files.classRaster, runID: runID) }
            } : nil
            defer { unit?.wait() }
            if unit == nil {
                minArea = try timed("minimum area") { try effectiveMinAreaHectares(classPath: files.classRaster, runID: runID) }
            }
            var zones = try timed("generalise") {
                try generalise(classPath: files.classRaster, zonesPath: zonesTmp, zoning: zoning, minArea: minArea,
                               townships: townships, unit: { try unit?.value() })
            }
            if let unit { minArea = try unit.value() }
            // The zones' COG is written beside their polygons (each reads its own copy of the zones).
            let cog = BackgroundTask(gdalConfig: plan.job.gdalConfig) { [self] in
                try timed("zones COG") { try writeCOG(from: zonesTmp, to: files.staged("risk_zones.tif"), resampling: "NEAREST", predictor: nil) }
            }
            defer { cog.wait() }
            let gpkg = files.staged("zones.gpkg")
            // A fixed GeoPackage timestamp keeps the file identical for identical inputs.
            features = try timed("polygonize") {
                try withFixedGeoPackageDate {
                    let n = try polygonize(zones: &zones, gpkg: gpkg, townships: townships, connectivity: zoning.connectivity)
                    try MapMaker.storeDefaultStyle(gpkg: gpkg, layer: "risk_zones", field: "class",
                                                   legend: MapMaker(plan: plan, runID: runID).legend)
                    return n
                }
            }
            try cog.value()
        }
        context.zoning = .init(majority: zoning.majority, minAreaHa: minArea,
                               sieveThresholdPixels: minArea.map(sieveThreshold(hectares:)),
                               connectivity: zoning.connectivity, zoneFeatures: features)
    }
}

extension ZoneStage {
    /// Majority filter (in memory, strips on all workers) and minimum mapping unit (sieve) of the class raster;
    /// a typed job with townships applies the unit within each township (`sieveWithinTownships`).
    /// `unit`: the minimum mapping unit of the sieve within townships, asked for once the majority
    /// filter is done (it may still be being computed); `minArea` is the grid-wide sieve's.
    func generalise(classPath: String, zonesPath: String, zoning: JobSpec.Zoning, minArea: Double?,
                    townships: TownshipGrid?, unit: @escaping () throws -> Double? = { nil }) throws -> [UInt8] {
        let scheme = plan.job.classify.scheme
        let withinTownships = plan.job.product != nil ? townships : nil
        return try generaliseCategories(classPath: classPath, zonesPath: zonesPath, majority: zoning.majority,
                                        minAreaHectares: withinTownships == nil ? minArea : nil, connectivity: zoning.connectivity,
                                        colorTable: scheme.colorTable, categoryNames: scheme.categoryNames,
                                        description: "risk zones (\(scheme.id), generalised)", stage: "zones") { zones in
            if let towns = withinTownships, let minArea = try minArea ?? unit() {
                try sieveWithinTownships(&zones, townships: towns, hectares: minArea, connectivity: zoning.connectivity)
            }
        }
    }

    /// Polygons of the zones raster into `zones.gpkg`, layer `risk_zones`.
    func polygonize(zones: inout [UInt8], gpkg: String, townships: TownshipGrid?, connectivity: Int) throws -> Int {
        let names = Dictionary(uniqueKeysWithValues: plan.job.classify.scheme.classes.map { (Int($0.value), "\($0.name) \($0.english)") })
        return try polygonizeZones(zones: &zones, gpkg: gpkg, layer: "risk_zones", valueField: "class",
                                   labels: [("class_name", { names[$0] ?? "\($0)" })],
                                   townships: townships, connectivity: connectivity)
    }
}
