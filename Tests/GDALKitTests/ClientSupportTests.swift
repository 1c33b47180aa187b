import Foundation
import Testing
@testable import GDALKit

@Suite struct ClientSupportTests {
    /// Two unit squares touching at (1, 1), written as one ring passing through that vertex twice
    /// (what 8-connected polygonising makes): invalid under GEOS ("Ring Self-intersection").
    static let geojson = """
    {"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"v": 1}, "geometry": {"type": "Polygon", "coordinates":
        [[[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [1, 2], [1, 1], [0, 1], [0, 0]]]}},
      {"type": "Feature", "properties": {"v": 2}, "geometry": {"type": "Polygon", "coordinates":
        [[[5, 5], [8, 5], [8, 7], [5, 7], [5, 5]], [[6, 6], [7, 6], [7, 6.5], [6, 6]]]}}
    ]}
    """

    @Test func makeValidRepairsOnlyInvalidPolygonsAndKeepsTheirArea() throws {
        let path = "/vsimem/client-\(UUID().uuidString).geojson"
        try VSI.write(Array(ClientSupportTests.geojson.utf8), to: path)
        defer { VSI.unlink(path) }
        let source = try Dataset(open: path, flags: [.vector]).layer(0)
        let memory = try Dataset.createVector(driver: "Memory", path: "")
        let target = try memory.createLayer("out", srs: nil, geometry: .multiPolygon)
        try target.createField("v", kind: .integer)
        var repairs: [VectorLayer.FeatureUpdate.Repair] = []
        var validBefore: [Bool] = []
        try target.appendFeatures(from: source) { src, dst in
            validBefore.append(src.isValid)
            dst.set(0, src.integer(0))
            repairs.append(try dst.makeValidMultiPolygon())
        }
        #expect(validBefore == [false, true])
        #expect(repairs.map(\.wasValid) == [false, true])
        #expect(repairs.map(\.areaBefore) == [2, 5.75])
        #expect(repairs.map(\.areaAfter) == [2, 5.75])
        #expect(target.geometryTypeName == "Multi Polygon")
        var valid: [Bool] = [], values: [Int] = []
        target.readFeatures { f in valid.append(f.isValid); values.append(f.integer(0)) }
        #expect(valid == [true, true] && values == [1, 2])
    }

    @Test func rasterAttributeTableAndUnitsRoundTrip() throws {
        let path = "/vsimem/client-\(UUID().uuidString).tif"
        defer { VSI.unlink(path); VSI.unlink(path + ".aux.xml") }
        let ds = try Dataset.create(driver: "GTiff", path: path, width: 4, height: 4, bands: 1, type: .byte)
        let band = try ds.band(1)
        try band.setUnitType("class")
        try band.setAttributeTable([
            .init("value", usage: .value, integers: [1, 2]),
            .init("class_name", usage: .name, strings: ["低", "高"]),
            .init("count", usage: .pixelCount, integers: [10, 6]),
        ])
        try ds.close()
        let back = try Dataset(open: path, flags: [.raster]).band(1)
        #expect(back.unitType == "class")
        let rat = try #require(back.attributeTable)
        #expect(rat.columns == ["value", "class_name", "count"])
        #expect(rat.rows == [["1", "低", "10"], ["2", "高", "6"]])
    }
}
