import Foundation

/// `report:` of a job — what the assessment report (report.html, report.pdf) prints on its cover:
/// `unit` (制图单位, the organisation making the assessment; default `maps.producer`) and `title`
/// (default: the job's title).
public struct ReportSettings: Sendable, Equatable {
    public var title: String?
    public var unit: String?
}

extension JobLoader {
    func parseReport(_ node: YNode) -> ReportSettings? {
        guard let obj = node.object(allowed: ["title", "unit"]) else { return nil }
        func text(_ key: String) -> String? {
            guard let v = obj[key] else { return nil }
            guard let s = v.string(), !s.trimmingCharacters(in: .whitespaces).isEmpty else {
                v.error("report.\(key) must be a non-empty text, got \(v.describe)")
                return nil
            }
            return s
        }
        return ReportSettings(title: text("title"), unit: text("unit"))
    }
}

extension JobLoader {
    /// `prevention.categories[].advice`: the recommendation text (防治建议) of a category.
    func parseAdvice(_ node: YNode?, ok: inout Bool) -> String? {
        guard let node else { return nil }
        guard let s = node.string(), !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            node.error("advice must be a non-empty text (the recommendation for the category's areas), got \(node.describe)")
            ok = false
            return nil
        }
        return s
    }
}
