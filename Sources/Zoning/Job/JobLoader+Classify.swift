import Foundation

extension JobLoader {
    /// `classify:` — the scheme and either fixed breaks or a data-driven method.
    /// With `product:`, the scheme may be left out (the type's default) and must be one of the type's.
    func parseClassify(_ top: YObject, product: ProductType? = nil) -> JobSpec.Classify? {
        guard let c = top["classify"]?.object(allowed: ["scheme", "breaks", "method", "classes"],
                                              required: product == nil ? ["scheme"] : []) else {
            return nil
        }
        return parseClassification(c, product: product)
    }

    /// A classification (`classify:`, or a census product's own): the scheme and either fixed
    /// breaks or a data-driven method.
    func parseClassification(_ c: YObject, product: ProductType? = nil) -> JobSpec.Classify? {
        var classify: JobSpec.Classify?
        var scheme = c["scheme"].flatMap(parseScheme)
        if let product, let node = c["scheme"], let s = scheme { checkScheme(s, product: product, at: node) }
        if let product, c["scheme"] == nil { scheme = product.schemes[0] }
        if (c["breaks"] == nil) == (c["method"] == nil) {
            c.node.error("give either breaks (fixed) or method (\(JobSpec.ClassMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let m = c["method"], let text = m.string() {
            let method = JobSpec.ClassMethod(rawValue: text)
            if method == nil {
                let names = JobSpec.ClassMethod.allCases.map(\.rawValue)
                let hint = closest(to: text, in: names).map { " (did you mean \"\($0)\"?)" } ?? ""
                m.error("unknown method \"\(text)\"\(hint); expected one of: \(names.joined(separator: ", "))")
            }
            if let k = c["classes"], let n = k.int(), let scheme, n != scheme.classCount {
                k.error("scheme \(scheme.id) has \(scheme.classCount) classes, not \(n)")
            }
            if let method, let scheme { classify = JobSpec.Classify(scheme: scheme, fixedBreaks: nil, method: method) }
        } else if c["classes"] != nil {
            c.keys["classes"]!.error("classes goes with method")
        }
        if let b = c["breaks"], let breaks = b.doubles() {
            var ok = true
            for (i, (x, y)) in zip(breaks, breaks.dropFirst()).enumerated() where !(y > x) {
                b.error("breaks must increase: break \(i + 2) (\(formatNumber(y))) is not above break \(i + 1) (\(formatNumber(x)))")
                ok = false
            }
            if let lo = breaks.first, let hi = breaks.last, lo <= 0 || hi >= 1 {
                b.error("breaks must lie strictly between 0 and 1 (the index range)")
                ok = false
            }
            if let scheme, breaks.count != scheme.classCount - 1 {
                b.error("scheme \(scheme.id) has \(scheme.classCount) classes and needs \(scheme.classCount - 1) breaks, got \(breaks.count)")
                ok = false
            }
            if ok, let scheme { classify = JobSpec.Classify(scheme: scheme, fixedBreaks: breaks, method: nil) }
        }
        return classify
    }
}
