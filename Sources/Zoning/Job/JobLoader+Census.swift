import FilePaths
import Foundation

extension JobSpec {
    /// `outputs.census`: the census submission package written into the run folder's `census/`
    /// (`CensusStage.swift`): one classified product per entry, named
    /// `{hazard}_{type}_{code}_{county6}_{seq:02}`, checked by the census checker before publishing.
    public struct Census: Sendable {
        public enum Format: String, Sendable, CaseIterable { case tif, shp }

        public struct Product: Sendable {
            /// The numeric product code (`01` the hazard product of a GeoTIFF).
            public let code: String
            /// An index of `indices:`, or `risk` (the combined index).
            public let index: String
            /// The hazard code of the file name (default: the package's).
            public let hazard: String
            /// The product's own classification; nil = the job's `classify:`.
            public let classify: Classify?
            public let format: Format
        }

        public let hazardCode: String
        public let type: String
        public let sequence: Int
        public let products: [Product]
        /// Further hazard codes (absolute path of a CSV file), nil = the built-in table only.
        public let hazardCodes: String?
        /// The county of the package (the standard grid's).
        public let adminCode: String

        /// The base name of a product's files.
        public func name(_ product: Product) -> String {
            "\(product.hazard)_\(type)_\(product.code)_\(adminCode)_\(String(format: "%02d", sequence))"
        }
    }
}

extension JobLoader {
    /// `outputs.census`: hazard code (from the catalogue), type (default P), sequence (default 1),
    /// products (code, index, optional hazard, classification and format), hazard-codes (a CSV
    /// of further codes, relative to the project root). Needs `grid.standard-grid`.
    func parseCensus(_ top: YObject, grid: JobSpec.Grid?, indices: [ModelNode], classify: JobSpec.Classify?,
                     file: String) -> JobSpec.Census? {
        guard let node = top["outputs"]?.entries()?.first(where: { $0.key == "census" })?.value,
              let c = node.object(allowed: ["hazard-code", "type", "sequence", "products", "hazard-codes"],
                                  required: ["hazard-code", "products"]) else { return nil }
        guard let standard = grid?.standardGrid else {
            // A grid that failed to parse has reported its own problems.
            if grid != nil { node.error("outputs.census needs the census standard grid as the grid: grid: { standard-grid: LAYER, admin-code: \"150625\" }") }
            return nil
        }
        let codes = c["hazard-codes"].flatMap { censusCatalogue($0, file: file) }
        let catalogue = codes?.catalogue ?? .builtIn
        let hazard = c["hazard-code"].flatMap { censusHazard($0, catalogue: catalogue) }
        let type = c["type"]?.string() ?? "P"
        if let t = c["type"], !(1...4).contains(type.count) || !type.allSatisfy({ $0.isASCII && $0.isUppercase }) {
            t.error("type is 1 to 4 capital letters (e.g. P), got \(t.describe)")
        }
        let sequence = c["sequence"]?.int() ?? 1
        if let s = c["sequence"], !(1...99).contains(sequence) { s.error("sequence is 1 to 99 (written as two digits)") }
        var products: [JobSpec.Census.Product] = []
        for item in c["products"]?.sequence() ?? [] {
            if let p = censusProduct(item, hazard: hazard, indices: indices, classify: classify, catalogue: catalogue) { products.append(p) }
        }
        if let p = c["products"], products.isEmpty, p.sequence()?.isEmpty == true { p.error("products lists at least one product") }
        guard let hazard else { return nil }
        return JobSpec.Census(hazardCode: hazard, type: type, sequence: sequence, products: products, hazardCodes: codes?.path,
                              adminCode: standard.adminCode)
    }

    private func censusCatalogue(_ node: YNode, file: String) -> (path: String, catalogue: CensusCatalogue)? {
        guard let text = node.string() else { return nil }
        let root = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().deletingLastPathComponent().path
        let path = text.hasPrefix("/") ? text : root.appendingComponent(text)
        do { return (path, try CensusCatalogue.extended(with: path)) } catch {
            node.error((error as? RunError)?.message ?? "\(error)")
            return nil
        }
    }

    private func censusHazard(_ node: YNode, catalogue: CensusCatalogue) -> String? {
        guard let text = node.string() else { return nil }
        guard catalogue.hazards[text] != nil else {
            node.error("hazard code \"\(text)\" is not in the census catalogue (\(catalogue.hazards.keys.sorted().joined(separator: " "))); add it with outputs.census.hazard-codes")
            return nil
        }
        return text
    }

    /// One product: `{ code: "01", index: hazard, hazard: HS, scheme: …, method: … | breaks: …, format: tif | shp }`.
    private func censusProduct(_ item: YNode, hazard: String?, indices: [ModelNode], classify: JobSpec.Classify?,
                               catalogue: CensusCatalogue) -> JobSpec.Census.Product? {
        guard let p = item.object(allowed: ["code", "index", "hazard", "format", "scheme", "method", "breaks", "classes"],
                                  required: ["code", "index"]) else { return nil }
        let code = p["code"]?.scalarString
        if let n = p["code"], let code, code.isEmpty || !code.allSatisfy({ $0.isASCII && $0.isNumber }) {
            n.error("code is the numeric product code (e.g. \"01\"), got \(n.describe)")
        }
        let index = p["index"]?.string()
        let names = ["risk"] + indices.map(\.name)
        if let n = p["index"], let index, !names.contains(index) {
            n.error("unknown index \"\(index)\"; expected risk (the combined index) or one of indices: \(names.dropFirst().joined(separator: ", "))")
        }
        let productHazard = p["hazard"].flatMap { censusHazard($0, catalogue: catalogue) } ?? hazard
        let format = p["format"].flatMap { n -> JobSpec.Census.Format? in
            guard let text = n.string() else { return nil }
            guard let f = JobSpec.Census.Format(rawValue: text) else { n.error("unknown format \"\(text)\"; expected tif or shp"); return nil }
            return f
        } ?? .tif
        var own: JobSpec.Classify?
        if p["scheme"] != nil { own = parseClassification(p) } else if p["method"] != nil || p["breaks"] != nil {
            item.error("a product's method or breaks goes with its scheme")
        }
        guard let code, let index, let productHazard, let scheme = (own ?? classify)?.scheme else { return nil }
        let hazardProduct = catalogue.isHazardProduct(hazard: productHazard, product: code, shapefile: format == .shp)
        if hazardProduct && scheme.classCount > 4 {
            item.error("product \(code) (\(format.rawValue)) of \(productHazard) is its hazard product, classes 1–4: scheme \(scheme.id) has \(scheme.classCount); give it scheme: hazard-four")
        } else if scheme.classCount > 5 {
            item.error("census products have classes 1–5: scheme \(scheme.id) has \(scheme.classCount)")
        }
        return JobSpec.Census.Product(code: code, index: index, hazard: productHazard, classify: own, format: format)
    }
}
