import Foundation

extension JobLoader {
    /// `outputs:` — the folder, the products (by default every one the job's sections make),
    /// runs to keep, the risk database, export formats and naming.
    func parseOutputs(_ top: YObject, zoning: JobSpec.Zoning?, file: String) -> JobSpec.Outputs? {
        guard let o = top["outputs"]?.object(allowed: ["directory", "products", "keep", "export", "naming", "database", "census"],
                                             required: ["directory"]) else { return nil }
        let dir = o["directory"]?.printableString()
        if let dir, let node = o["directory"] { checkOutputDirectory(dir, at: node, file: file) }
        let keep = o["keep"]?.int()
        if let k = o["keep"], let keep, keep < 1 { k.error("keep must be at least 1") }
        let database = o["database"]?.printableString()
        if let node = o["database"], let database { checkDatabase(database, at: node, file: file) }
        let products = parseProducts(o["products"], top: top, zoning: zoning)
        var outputs: JobSpec.Outputs?
        if let dir {
            outputs = JobSpec.Outputs(directory: dir, products: products, keep: keep)
            outputs?.database = database
            let m = o["directory"]!.mark
            outputs?.position = JobSpec.Position(file: file, line: m.line, column: m.column)
            if let d = o["database"]?.mark { outputs?.databasePosition = JobSpec.Position(file: file, line: d.line, column: d.column) }
        }
        let (export, naming) = parseExport(o, top: top, products: products)
        outputs?.export = export
        outputs?.naming = naming
        return outputs
    }

    /// The folder the job's outputs resolve against: the parent of the job's folder.
    private func projectRoot(of file: String) -> String {
        URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// `outputs.directory` stays inside the project.
    private func checkOutputDirectory(_ dir: String, at node: YNode, file: String) {
        let root = projectRoot(of: file)
        if dir.split(separator: "/").contains("..") {
            node.error("directory must not contain \"..\" (a job writes only inside its project)")
        } else if dir.isEmpty {
            node.error("directory must not be empty")
        } else if dir.hasPrefix("/") && !(dir + "/").hasPrefix(root + "/") {
            node.error("an absolute directory must lie inside the project (\(root)); use --output to write elsewhere")
        }
    }

    /// `outputs.database` is a GeoPackage inside the project.
    private func checkDatabase(_ database: String, at node: YNode, file: String) {
        let root = projectRoot(of: file)
        if database.split(separator: "/").contains("..") {
            node.error("database must not contain \"..\" (a job writes only inside its project)")
        } else if !database.hasSuffix(".gpkg") {
            node.error("database must be a GeoPackage file name ending in .gpkg, e.g. out/risk-database.gpkg")
        } else if database.hasPrefix("/") && !(database + "/").hasPrefix(root + "/") {
            node.error("an absolute database path must lie inside the project (\(root)); use --database to write elsewhere")
        }
    }

    /// `outputs.products`, each checked against the sections it needs; without it, every product
    /// the job's sections make.
    private func parseProducts(_ node: YNode?, top: YObject, zoning: JobSpec.Zoning?) -> [JobSpec.Product] {
        var products: [JobSpec.Product] = [.riskIndex, .riskClass]
        if zoning != nil { products.append(.riskZones) }
        let townshipUnits = zoning != nil && (zoning?.townships != nil || namesStandardGrid(top))
        if townshipUnits { products.append(.statistics) }
        if top["prevention"] != nil { products.append(.prevention) }
        if top["sensitivity"] != nil { products.append(.sensitivity) }
        products.append(.maps)
        guard let p = node, let items = p.sequence() else { return products }
        products = []
        for item in items {
            guard let text = item.string() else { continue }
            if let product = JobSpec.Product(rawValue: text) {
                products.append(product)
                if product == .riskZones && top["zoning"] == nil { item.error("risk-zones needs a zoning: section") }
                if product == .prevention && top["prevention"] == nil { item.error("prevention needs a prevention: section") }
                if product == .sensitivity && top["sensitivity"] == nil { item.error("sensitivity needs a sensitivity: section") }
                if product == .statistics && !townshipUnits && top["zoning"] != nil {
                    item.error("statistics needs zoning.townships")
                } else if product == .statistics && top["zoning"] == nil {
                    item.error("statistics needs zoning.townships")
                }
            } else {
                item.error("unknown product \"\(text)\"; expected one of: \(JobSpec.Product.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let s = top.keys["sensitivity"], !products.contains(.sensitivity) {
            s.error("sensitivity: is set but outputs.products (line \(p.mark.line)) leaves out sensitivity; add it there or remove the sensitivity: section")
        }
        return products
    }
}
