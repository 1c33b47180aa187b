import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Cartography

@Suite struct QGISStyleTests {
    static let entries = Fixture.legend + [LegendEntry(value: 5, label: "odd <&\"'> label", color: RGB(1, 2, 3))]

    @Test func palettedQMLIsWellFormedWithOneEntryPerClass() throws {
        let qml = QGISStyle.palettedQML(entries: Self.entries)
        let doc = try XMLDocument(xmlString: qml, options: [])
        let root = try #require(doc.rootElement())
        #expect(root.name == "qgis")
        let renderers = try root.nodes(forXPath: "pipe/rasterrenderer") as? [XMLElement] ?? []
        #expect(renderers.count == 1)
        #expect(renderers.first?.attribute(forName: "type")?.stringValue == "paletted")
        #expect(renderers.first?.attribute(forName: "band")?.stringValue == "1")
        let palette = try root.nodes(forXPath: "pipe/rasterrenderer/colorPalette/paletteEntry") as? [XMLElement] ?? []
        #expect(palette.count == Self.entries.count)
        for (element, entry) in zip(palette, Self.entries) {
            #expect(element.attribute(forName: "value")?.stringValue == "\(entry.value)")
            #expect(element.attribute(forName: "color")?.stringValue == entry.color.hex)
            #expect(element.attribute(forName: "alpha")?.stringValue == "255")
            #expect(element.attribute(forName: "label")?.stringValue == entry.label, "labels round-trip, escaped")
        }
        #expect(Self.entries[0].color.hex == "#0070c0")
    }

    @Test func aSidecarQMLLeavesGdalinfoUnchanged() throws {
        let dir = try TempDir()
        let raster = dir.path("risk_class.tif")
        try Fixture.makeRaster(at: raster)
        let before = try run("/usr/bin/gdalinfo", ["-checksum", raster])
        try QGISStyle.palettedQML(entries: Fixture.legend).write(toFile: dir.path("risk_class.qml"), atomically: true,
                                                                  encoding: .utf8)
        let after = try run("/usr/bin/gdalinfo", ["-checksum", raster])
        #expect(before == after)
        #expect(!after.contains(".qml"))
    }
}
