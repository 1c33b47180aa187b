import Foundation

// The CSV tables of a run (stats.csv, prevention, changes, sensitivity): one set of helpers.

/// The UTF-8 byte-order mark that starts every CSV (Excel on Chinese Windows otherwise reads GBK).
let csvByteOrderMark = "\u{FEFF}"

/// The township columns every table starts with.
let csvTownshipHeader = ["township_id", "township_code", "乡镇 township", "乡镇英文名 township_en"]

func csvTownshipCells(id: Int, code: String?, name: String, english: String?) -> [String] {
    [String(id), csvText(code ?? ""), csvText(name), csvText(english ?? "")]
}

/// A CSV text cell, quoted when it holds a comma or a quote (RFC 4180).
func csvText(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

/// A CSV number cell with six decimals; empty for nil.
func csvNumber(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
