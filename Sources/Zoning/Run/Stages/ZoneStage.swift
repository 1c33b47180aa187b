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
            minArea = try effectiveMinAreaHectares(classPath: files.classRaster, runID: context.runID)
            var zones = try generalise(classPath: files.classRaster, zonesPath: zonesTmp, zoning: zoning, minArea: minArea,
                                       townships: context.townshipGrid)
            try writeCOG(from: zonesTmp, to: files.staged("risk_zones.tif"), resampling: "NEAREST", predictor: nil)
            let gpkg = files.staged("zones.gpkg")
            // A fixed GeoPackage timestamp keeps the file identical for identical inputs.
            features = try withFixedGeoPackageDate {
                let n = try polygonize(zones: &zones, gpkg: gpkg, townships: context.townshipGrid,
                                       connectivity: zoning.connectivity)
                try MapMaker.storeDefaultStyle(gpkg: gpkg, layer: "risk_zones", field: "class",
                                               legend: MapMaker(plan: plan, runID: context.runID).legend)
                return n
            }
        }
        context.zoning = .init(majority: zoning.majority, minAreaHa: minArea,
                               sieveThresholdPixels: minArea.map(sieveThreshold(hectares:)),
                               connectivity: zoning.connectivity, zoneFeatures: features)
    }
}

extension ZoneStage {
    /// Majority filter (in memory, strips on all workers) and minimum mapping unit (sieve) of the class raster;
    /// a typed job with townships applies the unit within each township (`sieveWithinTownships`).
    func generalise(classPath: String, zonesPath: String, zoning: JobSpec.Zoning, minArea: Double?,
                    townships: TownshipGrid?) throws -> [UInt8] {
        let scheme = plan.job.classify.scheme
        let withinTownships = plan.job.product != nil ? townships : nil
        return try generaliseCategories(classPath: classPath, zonesPath: zonesPath, majority: zoning.majority,
                                        minAreaHectares: withinTownships == nil ? minArea : nil, connectivity: zoning.connectivity,
                                        colorTable: scheme.colorTable, categoryNames: scheme.categoryNames,
                                        description: "risk zones (\(scheme.id), generalised)", stage: "zones") { zones in
            if let towns = withinTownships, let minArea {
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
