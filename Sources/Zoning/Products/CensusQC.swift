import FilePaths
import Foundation

/// The census package's quality-control record: `census/QC.json` and the bilingual
/// `质检报告 QC report.txt`, every check of every file.
struct CensusQC: Encodable {
    struct Product: Encodable {
        let file: String
        let index: String
        let hazard: String
        let code: String
        let scheme: String
        let method: String?
        let breaks: [Double]
    }

    let standardGrid: String
    let adminCode: String
    let products: [Product]
    let files: [CensusCheck.FileReport]

    enum CodingKeys: String, CodingKey {
        case standardGrid = "standard_grid", adminCode = "admin_code", products, files, passed
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(standardGrid, forKey: .standardGrid)
        try c.encode(adminCode, forKey: .adminCode)
        try c.encode(files.allSatisfy(\.passed), forKey: .passed)
        try c.encode(products, forKey: .products)
        try c.encode(files.map { FileEntry(file: $0.file.fileName, passed: $0.passed, checks: $0.checks) }, forKey: .files)
    }

    struct FileEntry: Encodable { let file: String; let passed: Bool; let checks: [CensusCheck.Finding] }

    /// The report as text: a header, then per file its verdict and every check (✓/✗, Chinese / English).
    var text: String {
        var lines = ["质检报告 QC report — 普查成果 census package", "标准格网 standard grid: \(standardGrid)",
                     "县代码 county: \(adminCode)", "结论 verdict: \(files.allSatisfy(\.passed) ? "全部通过 all PASS" : "未通过 FAIL")", ""]
        for f in files {
            lines.append("\(f.passed ? "PASS 通过" : "FAIL 未通过") \(f.file.fileName)")
            for check in f.checks { lines.append("  \(check.passed ? "✓" : "✗") [\(check.rule)] \(check.zh) / \(check.en)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func write(into folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: folder.appendingComponent("QC.json")))
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder.appendingComponent("质检报告 QC report.txt")))
        } catch {
            throw RunError(.ioError, "\(folder): cannot write the QC report: \(error.localizedDescription)")
        }
    }
}
