import Cartography
import Foundation

extension JobLoader {
    /// `maps.producer`, `maps.figure`, `maps.usage`, `maps.data-date`: the furniture of a plan figure.
    /// `figure` is the number of the job's first map (e.g. "3-1" or "图3-1"); the job's further maps
    /// count on from it ("3-2", "3-3", …). `data-date` is YYYY, YYYY-MM or YYYY-MM-DD.
    func parseFurniture(_ m: YObject) -> MapFurniture {
        var f = MapFurniture()
        f.producer = m["producer"]?.line()
        f.usage = m["usage"]?.line()
        if let node = m["figure"], let text = node.line() {
            if MapFurniture.figureNumbers(text, count: 1).isEmpty {
                node.error("figure is a figure number ending in a number, e.g. \"3-1\" or \"图3-1\", got \(node.describe)")
            } else {
                f.figure = text
            }
        }
        if let node = m["data-date"], let text = node.line() {
            if text.range(of: #"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"#, options: .regularExpression) == nil {
                node.error("data-date is YYYY, YYYY-MM or YYYY-MM-DD (the date the data are current to), got \(node.describe)")
            } else {
                f.dataDate = text
            }
        }
        return f
    }
}

extension MapFurniture {
    /// `count` figure numbers counting on from `first` ("3-1" → 图3-1, 图3-2, …); empty when
    /// `first` does not end in a number.
    static func figureNumbers(_ first: String, count: Int) -> [String] {
        let digits = first.reversed().prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let start = Int(String(digits.reversed())) else { return [] }
        var stem = String(first.dropLast(digits.count))
        if !stem.contains("图") { stem = "图" + stem }
        return (0..<count).map { "\(stem)\(start + $0)" }
    }
}
