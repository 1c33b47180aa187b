import Foundation

// The CSV tables of a run (stats.csv, prevention, changes, sensitivity): one set of helpers. Every
// text cell of every table goes through `csvText`; numbers through `csvNumber` or `String(_:)`.

/// The UTF-8 byte-order mark that starts every CSV (Excel on Chinese Windows otherwise reads GBK).
let csvByteOrderMark = "\u{FEFF}"

/// The township columns every table starts with.
let csvTownshipHeader = ["township_id", "township_code", "乡镇 township", "乡镇英文名 township_en"]

func csvTownshipCells(id: Int, code: String?, name: String, english: String?) -> [String] {
    [String(id), csvText(code ?? ""), csvText(name), csvText(english ?? "")]
}

/// A CSV text cell, safe to open in a spreadsheet. Text from the data (township names, codes,
/// class names) is never a formula: a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a leading `'` (OWASP, CSV injection), which Excel and LibreOffice show as text.
/// Then RFC 4180: a cell holding a comma, a quote, a CR or an LF is quoted, its quotes doubled, so
/// a name with a line break stays one record. Plain text is written as it is.
func csvText(_ s: String) -> String {
    let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
    let text = s.unicodeScalars.first.map(formulaStarts.contains) == true ? "'" + s : s
    let needsQuotes = text.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }
    return needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}

/// A CSV number cell with six decimals; empty for nil.
func csvNumber(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
