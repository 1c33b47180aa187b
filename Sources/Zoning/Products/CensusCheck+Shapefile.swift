import FilePaths
import Foundation
import GDALKit

extension CensusCheck {
    /// A shapefile: an EPSG:4490 `.prj`, the envelope of the county's standard-grid cells, an
    /// integer `class` on every feature in 1…`maxClass`.
    func checkShapefile(_ path: String, county: CountyCells?, maxClass: Int) -> [Finding] {
        let ds: Dataset
        let layer: VectorLayer
        do {
            ds = try Dataset(open: path, flags: [.vector])
            layer = try ds.layer(0)
        } catch {
            return [Self.fail("open", "无法打开 Shapefile", "cannot open the shapefile: \((error as? GDALError)?.message ?? "\(error)")")]
        }
        guard ds.driverName == "ESRI Shapefile" else {
            return [Self.fail("format", "不是 Shapefile", "not an ESRI Shapefile (driver \(ds.driverName))")]
        }
        var findings = [checkPrj(path, layer: layer)]
        if let county {
            do {
                let extent = try layer.extent()
                findings.append(Self.near(extent, county.bounds)
                    ? Self.pass("envelope", "范围与县标准格网一致", "envelope equals the county's standard-grid cells'")
                    : Self.fail("envelope", "图层范围 \(Self.describe(extent)) 与县标准格网范围 \(Self.describe(county.bounds)) 不一致",
                                "envelope \(Self.describe(extent)) differs from the county's standard-grid cells' \(Self.describe(county.bounds)) by more than 1e-6°"))
            } catch {
                findings.append(Self.fail("envelope", "无法读取图层范围", "cannot read the layer's envelope"))
            }
        }
        findings.append(contentsOf: checkClassField(layer, maxClass: maxClass))
        return findings
    }

    /// The `.prj` beside the `.shp` states CGCS2000 (EPSG:4490), geographic.
    func checkPrj(_ path: String, layer: VectorLayer) -> Finding {
        let prj = path.removingExtension + ".prj"
        guard FileManager.default.fileExists(atPath: prj) else {
            return Self.fail("prj", "缺少 .prj 坐标系文件", "no .prj file (\(prj.fileName))")
        }
        guard let srs = layer.spatialReference, let cgcs = try? SpatialReference(definition: "EPSG:4490") else {
            return Self.fail("prj", ".prj 无法解析", "the .prj cannot be read as a CRS")
        }
        guard srs.isGeographic, srs.isSame(as: cgcs) else {
            return Self.fail("prj", ".prj 坐标系应为 CGCS2000 地理坐标系(EPSG:4490),实际为 \(srs.name)",
                             ".prj is \(srs.name)\(srs.isProjected ? " (projected)" : ""): expected CGCS2000 geographic, EPSG:4490")
        }
        return Self.pass("prj", ".prj 为 CGCS2000(EPSG:4490)", ".prj is CGCS2000 (EPSG:4490)")
    }

    /// An integer field `class`, set on every feature, in 1…`maxClass`.
    func checkClassField(_ layer: VectorLayer, maxClass: Int) -> [Finding] {
        guard let field = layer.fields.first(where: { $0.name.lowercased() == "class" }) else {
            return [Self.fail("class-field", "缺少整型字段 class", "no field class (fields: \(layer.fields.map(\.name).joined(separator: ", ")))")]
        }
        guard field.kind == .integer else {
            return [Self.fail("class-field", "字段 class 应为整型", "field class is not an integer field")]
        }
        let values: [Double?]
        do { values = try layer.numericValues(field: field.name) } catch {
            return [Self.fail("class-field", "无法读取字段 class", "cannot read field class")]
        }
        var findings = [Self.pass("class-field", "整型字段 class", "integer field class")]
        let unset = values.enumerated().filter { $0.element == nil }.map(\.offset)
        let outside = values.enumerated().filter { v in v.element.map { $0 < 1 || $0 > Double(maxClass) } ?? false }
        if let f = unset.first {
            findings.append(Self.fail("class-values", "\(unset.count) 个要素没有 class 值(如第 \(f) 个要素)",
                                      "\(unset.count) feature(s) without a class (e.g. feature \(f))"))
        } else if let o = outside.first {
            findings.append(Self.fail("class-values", "\(outside.count) 个要素的 class 超出 1–\(maxClass)(如第 \(o.offset) 个要素为 \(formatNumber(o.element!)))",
                                      "\(outside.count) feature(s) with class outside 1–\(maxClass) (e.g. feature \(o.offset): \(formatNumber(o.element!)))"))
        } else if values.isEmpty {
            findings.append(Self.fail("class-values", "图层没有要素", "the layer has no feature"))
        } else {
            findings.append(Self.pass("class-values", "\(values.count) 个要素的 class 均在 1–\(maxClass)", "class in 1–\(maxClass) on all \(values.count) features"))
        }
        return findings
    }
}
