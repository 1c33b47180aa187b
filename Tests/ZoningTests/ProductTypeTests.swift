import Cartography
import Foundation
import GDALKit
import Testing
@testable import Zoning

/// Issue 24: product types with one vocabulary, validation of what a typed job may say, and the
/// shipped jobs classifying with the table's levels and one township level rule.
@Suite struct ProductTypeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The one table, written out here as the census states it (hazard 4 levels, risk 5).
    static let hazardWords = ["低", "较低", "较高", "高"]
    static let riskWords = ["低", "中低", "中", "中高", "高"]

    @Test func everyShippedJobClassifiesWithItsTypesLevelsAndTheMeanIndexRule() throws {
        let jobs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("jobs").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
            // The census submission package is several products in one job (its own `outputs.census`
            // schemes), checked by census-check: not one product type.
            .filter { $0 != "hangjin-census-package.yaml" }
        #expect(jobs.count >= 11)
        let loader = JobLoader(layersDirectory: Self.root.appendingPathComponent("layers").path)
        var types: [ProductType: Int] = [:]
        for file in jobs {
            let spec = try loader.load(Self.root.appendingPathComponent("jobs/\(file)").path)
            let product = try #require(spec.product, "\(file) declares no product:")
            types[product, default: 0] += 1
            let names = spec.classify.scheme.classes.map(\.name)
            let words = product == .hazard ? Self.hazardWords : Self.riskWords
            #expect(names == words, "\(file): \(names) is not the \(product.rawValue) vocabulary \(words)")
            // One palette convention: the highest level red, the lowest green.
            let top = spec.classify.scheme.classes.last!.rgb, low = spec.classify.scheme.classes.first!.rgb
            #expect(top.0 > 200 && top.1 < 60 && low.1 > low.0 && low.1 > low.2, "\(file): palette \(top) … \(low)")
            #expect((product == .prevention) == (spec.prevention != nil), "\(file): prevention section read: \(spec.prevention != nil)")
            if let townships = spec.zoning?.townships {
                #expect(townships.level == .meanIndex, "\(file): township level rule \(townships.level)")
            }
        }
        // The assessment: hazard per hazard (+ comprehensive hazard), risk per hazard + comprehensive, zoning, prevention.
        #expect(types[.hazard] == 4 && types[.risk] == 4 && types[.zoning] == 2 && types[.prevention] == 1, "\(types)")
    }

    func load(_ job: String) throws -> (JobSpec?, String) {
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8).replacingOccurrences(of: "title: 测试\n", with: "title: 测试\n" + job)
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        do {
            return (try JobLoader().load(fx.jobPath), "")
        } catch let error as DiagnosticsError {
            return (nil, error.description)
        }
    }

    @Test func aTypedJobIsCheckedAgainstItsType() throws {
        // The fixture's scheme is four-colour (蓝/黄/橙/红): not a hazard vocabulary.
        let (_, hazard) = try load("product: hazard\n")
        #expect(hazard.contains("fixture.yaml:") && hazard.contains("product: hazard has 4 levels 高/较高/较低/低")
                && hazard.contains("scheme four-colour is 红/橙/黄/蓝"), "\(hazard)")
        let (_, unknown) = try load("product: hazzard\n")
        #expect(unknown.contains("fixture.yaml:4:10") && unknown.contains("did you mean \"hazard\"?"), "\(unknown)")
        let (_, zoning) = try load("product: zoning\n")
        #expect(zoning.contains("product: zoning needs a zoning: section"), "\(zoning)")
        // Without a scheme a typed job takes its type's; the roman numbering is allowed.
        let fx = try Fixture()
        let text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
            .replacingOccurrences(of: "title: 测试\n", with: "title: 测试\nproduct: hazard\n")
            .replacingOccurrences(of: "  scheme: four-colour\n", with: "")
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        #expect(try JobLoader().load(fx.jobPath).classify.scheme.id == "census-hazard")
        try text.replacingOccurrences(of: "classify:\n", with: "classify:\n  scheme: census-hazard-roman\n")
            .write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        #expect(try JobLoader().load(fx.jobPath).classify.scheme.classes.last?.name == "Ⅰ级")
    }

    @Test func sensitivityWithoutItsProductAndBadFurnitureAreValidateErrors() throws {
        let fx = try Fixture(extraJob: """
            sensitivity: { perturb: 0.2 }
            maps:
              figure: "图三"
              data-date: "2025-13"
            """)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        let text = error.description
        #expect(text.contains("sensitivity: is set but outputs.products") && text.contains("leaves out sensitivity"), "\(text)")
        #expect(text.contains("figure is a figure number") && text.contains("data-date is YYYY"), "\(text)")
        #expect(MapFurniture.figureNumbers("3-1", count: 3) == ["图3-1", "图3-2", "图3-3"])
        #expect(MapFurniture.figureNumbers("附图9", count: 2) == ["附图9", "附图10"])
    }
}
