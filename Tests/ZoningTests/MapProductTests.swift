import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Maps and styles as products of a run, and `render` redrawing them.
@Suite(.serialized) struct MapProductTests {
    @Test func aRunDrawsItsMapsAndStylesAndRenderRedrawsThem() throws {
        let fx = try Fixture()
        try fx.project.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545", geojson: """
            {"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"锡尼镇"},"geometry":{"type":"Polygon",
            "coordinates":[[[\(Fixture.xmin),\(Fixture.ymin)],[\(Fixture.xmax),\(Fixture.ymin)],[\(Fixture.xmax),\(Fixture.ymax)],[\(Fixture.xmin),\(Fixture.ymax)],[\(Fixture.xmin),\(Fixture.ymin)]]]}}]}
            """)
        try fx.project.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\n")
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "  products: [risk-index, risk-class]\n", with: "")
            .replacingOccurrences(of: "outputs:\n", with: """
                zoning:
                  majority: 3
                  townships: { layer: towns, name: name }
                maps:
                  subtitle: 测试 fixture map
                  page: a4-landscape
                outputs:

                """)
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let result = try Runner(plan: try fx.plan(), options: RunOptions(threads: 2)).run()
        let run = result.runDirectory
        let listed = Set(result.manifest.products.map(\.path))
        for name in ["risk_map.pdf", "risk_map.png", "zoning_map.pdf", "zoning_map.png", "risk_class.qml", "risk_zones.qml", "zones.gpkg"] {
            #expect(listed.contains(name), "\(name) is a product")
        }
        // The printed map carries the title, subtitle, every legend label and the township name.
        let pdfText = try shell("/usr/bin/pdftotext", ["-layout", "\(run)/zoning_map.pdf", "-"])
        for label in ["测试", "测试 fixture map", "红 red (very high)", "蓝 blue (low)", "锡尼镇", "run \(result.runID)"] {
            #expect(pdfText.contains(label), "\(label) not on the map")
        }
        // QGIS styles: the .qml beside the raster lists every class; the GeoPackage has a default style.
        let qml = try String(contentsOfFile: "\(run)/risk_class.qml", encoding: .utf8)
        #expect(qml.contains("paletteEntry value=\"4\" color=\"#e60000\""))
        let styles = try shell("/usr/bin/ogrinfo", ["-ro", "-q", "-sql", "SELECT f_table_name, useAsDefault, length(styleQML) > 500 AS ok FROM layer_styles", "\(run)/zones.gpkg"])
        #expect(styles.contains("f_table_name (String) = risk_zones"))
        #expect(styles.contains("useAsDefault (Integer(Boolean)) = 1") || styles.contains("useAsDefault (Integer) = 1"), "\(styles)")
        #expect(styles.contains("ok (Integer) = 1"), "\(styles)")

        // render: redraws from the published run; the manifest's checksums stay true.
        try FileManager.default.removeItem(atPath: "\(run)/risk_map.png")
        let written = try Operations.renderLatest(fx.jobPath)
        #expect(written.contains { $0.hasSuffix("risk_map.png") })
        // render publishes a new run (the redrawn maps, the same products) and switches latest.
        let publisher = Publisher(outputDirectory: try fx.plan().outputDirectory)
        let rendered = try #require(publisher.latestRun)
        #expect(rendered != run && written.allSatisfy { $0.hasPrefix(rendered + "/") })
        let manifest = try #require(publisher.latestManifest())
        for product in manifest.products {
            #expect(try SHA256.hex(fileAt: "\(rendered)/\(product.path)") == product.sha256, "\(product.path)")
        }
        #expect(Set(manifest.products.map(\.path)) == listed)
        // The products are the computed run's own bytes.
        for product in result.manifest.products where product.path.hasSuffix(".tif") || product.path.hasSuffix(".gpkg") {
            #expect(manifest.products.first { $0.path == product.path }?.sha256 == product.sha256, "\(product.path)")
        }
    }
}
