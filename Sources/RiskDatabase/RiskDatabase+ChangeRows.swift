import Foundation
import FilePaths
import GDALKit

/// A run's changes read and prepared before its transaction: the rows of `township_changes` and
/// the polygons of `zone_changes` (kept in memory until they are appended).
struct ChangeImport {
    var previousRunID: String?
    var rows: [[(String, FieldValue)]] = []
    var polygons: Dataset?
}

extension RiskDatabase {
    /// Reads the run's `changes.json` and polygonises its `risk_change.tif` (when the run has a
    /// previous run or baseline); adds the total columns and the `zone_changes` layer it needs.
    func prepareChanges(folder: String, into ds: Dataset) throws -> ChangeImport {
        let path = folder.appendingComponent("changes.json")
        guard FileManager.default.fileExists(atPath: path) else { return ChangeImport() }
        guard let data = FileManager.default.contents(atPath: path), let doc = try? JSONValue.parse(data) else {
            throw UnreadableRunFolder(folder: folder, file: path, reason: "cannot be read as a changes document")
        }
        var result = ChangeImport(previousRunID: doc["from"]?["run_id"]?.string)
        result.rows = RiskDatabase.changeRows(doc, previous: result.previousRunID)
        let table = try ds.layer(named: "township_changes")
        for row in result.rows { for (name, _) in row where table.fieldIndex(name) == nil { try table.ensureField(name, kind: .real) } }
        let raster = folder.appendingComponent("risk_change.tif")
        if FileManager.default.fileExists(atPath: raster) {
            do { result.polygons = try changedPolygons(raster) } catch let error as GDALError {
                throw UnreadableRunFolder(folder: folder, file: raster, reason: "cannot be read (\(error.message))")
            }
            if ds.layerIfPresent("zone_changes") == nil, let layer = try result.polygons?.layer(0) {
                let target = try ds.createLayer("zone_changes", srs: layer.spatialReference, geometry: .polygon, options: ["FID=fid", "GEOMETRY_NAME=geom"])
                for name in RiskDatabase.zoneChangeFields {
                    try target.ensureField(name, kind: ["run_id", "job", "previous_run_id"].contains(name) ? .string : name == "area_ha" ? .real : .integer)
                }
                try target.syncToDisk()
                _ = try ds.query("CREATE INDEX IF NOT EXISTS zone_changes_job_run_id ON zone_changes (job, run_id)")
            }
        }
        return result
    }

    /// Appends the prepared rows and polygons (inside the run's transaction).
    func insertChanges(_ changes: ChangeImport, runID: String, job: String, into ds: Dataset) throws {
        let table = try ds.layer(named: "township_changes")
        for row in changes.rows { try table.insert([("run_id", .string(runID)), ("job", .string(job))] + row) }
        if let polygons = changes.polygons {
            let previous: FieldValue = changes.previousRunID.map { .string($0) } ?? .null
            try ds.layer(named: "zone_changes").append(from: try polygons.layer(0),
                                                       setting: [("run_id", .string(runID)), ("job", .string(job)), ("previous_run_id", previous)])
        }
    }

    /// One row per township and transition (a township without classified pixels: one row without
    /// a transition); the township's levels, direction and explanation on each of its rows.
    static func changeRows(_ doc: JSONValue, previous: String?) -> [[(String, FieldValue)]] {
        func integer(_ v: JSONValue?) -> FieldValue { v?.int.map { .integer($0) } ?? .null }
        func real(_ v: JSONValue?) -> FieldValue { v?.number.map { .real($0) } ?? .null }
        func text(_ v: JSONValue?) -> FieldValue { v?.string.map { .string($0) } ?? .null }
        var rows: [[(String, FieldValue)]] = []
        for town in doc["townships"]?.array ?? [] {
            var head: [(String, FieldValue)] = [
                ("previous_run_id", previous.map { .string($0) } ?? .null), ("township_id", integer(town["township_id"])),
                ("township_code", text(town["township_code"])), ("township", text(town["township"])),
                ("level_before", integer(town["previous_level"])), ("level_before_name", text(town["previous_level_name"])),
                ("level_after", integer(town["level"])), ("level_after_name", text(town["level_name"])), ("direction", text(town["change"])),
                ("level_by_old_breaks", integer(town["level_by_old_breaks"])),
            ]
            for key in ["mean_index_before", "mean_index_after", "delta_index", "delta_index_data", "delta_index_weights", "delta_index_interaction"] {
                head.append((key, real(town[key])))
            }
            let transitions = town["transitions"]?.array ?? []
            if transitions.isEmpty { rows.append(head) }
            for t in transitions {
                var row = head + [("from_class", integer(t["from"])), ("to_class", integer(t["to"])),
                                  ("pixels", integer(t["pixels"])), ("area_ha", real(t["area_ha"]))]
                if case .object(let totals) = t["totals"] ?? .null {
                    for name in totals.keys.sorted() {
                        if let column = totalColumn(name) { row.append((column, real(totals[name]))) }
                    }
                }
                rows.append(row)
            }
        }
        return rows
    }

    /// A column named after a total or a stats.json key: lower-case ASCII letters, digits and `_`;
    /// nil when reserved.
    static func totalColumn(_ name: String) -> String? {
        let mapped = String(name.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "_" })
        return reservedColumnNames.contains(mapped) ? nil : mapped
    }

    /// The polygons of the changed pixels of a change raster (value = 10 × from + to, from ≠ to),
    /// 4-connected, with `from_class`, `to_class` and `area_ha`, in a Memory dataset.
    func changedPolygons(_ raster: String) throws -> Dataset {
        let source = try Dataset(open: raster, flags: [.raster])
        let (width, height) = (source.width, source.height)
        let memory = try Dataset.create(driver: "MEM", path: "", width: width, height: height, bands: 1, type: .byte)
        if let gt = source.geoTransform { try memory.setGeoTransform(gt) }
        if let srs = source.spatialReference { try memory.setSpatialReference(srs) }
        let band = try source.band(1), changed = try memory.band(1)
        var y = 0
        while y < height {
            let window = PixelWindow(x: 0, y: y, width: width, height: min(512, height - y))
            var values: [UInt8] = try band.read(window)
            for i in values.indices where values[i] / 10 == values[i] % 10 { values[i] = 0 }
            try values.withUnsafeBufferPointer { try changed.write(window, from: $0) }
            y += window.height
        }
        let polygons = try Dataset.createVector(driver: "Memory", path: "")
        let layer = try polygons.createLayer("zone_changes", srs: source.spatialReference, geometry: .polygon)
        for name in ["change", "from_class", "to_class"] { try layer.createField(name, kind: .integer) }
        try layer.createField("area_ha", kind: .real)
        try changed.polygonize(into: layer, mask: changed, field: 0, eightConnected: false)
        let (from, to, area) = (layer.fieldIndex("from_class")!, layer.fieldIndex("to_class")!, layer.fieldIndex("area_ha")!)
        let planar = !(source.spatialReference?.isGeographic ?? false)  // a lat/long grid's polygons: no planar area
        try layer.updateFeatures { f in
            let code = f.integer(0)
            f.set(from, code / 10)
            f.set(to, code % 10)
            if planar { f.set(area, f.area / 10_000) }
        }
        return polygons
    }
}
