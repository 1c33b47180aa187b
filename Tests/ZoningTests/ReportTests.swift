import Foundation
import GDALKit
import Testing
@testable import Zoning

/// The assessment report (report.html, report.pdf, tables.xlsx), the attribution behind it and the
/// summary page across jobs, read back by headless Chromium, pdftotext/pdffonts, openpyxl and numpy.
@Suite(.serialized) struct ReportTests {
    static let chromium = "/usr/bin/chromium"
    /// Every host resolves to an unreachable address: a page that needs the network shows it.
    static let offline = ["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * 0.0.0.0",
                          "--disable-background-networking", "--no-first-run"]

    /// The totals fixture (two townships, persons and floor area, prevention with advice), with
    /// `sensitivity:`, maps and `report.unit`, run twice (the second with other weights: changes).
    static func twoRuns() throws -> (Fixture, RunResult) {
        let zoning = TotalsTests.totals
        let (fx, job) = try TotalsTests.fixture(zoning: zoning, top: "report: { unit: 测试制图单位 Test mapping unit }\n",
                                                products: "  products: [risk-index, risk-class, risk-zones, statistics, prevention, maps, sensitivity]\n",
                                                prevention: true)
        var text = try String(contentsOfFile: job, encoding: .utf8)
        text += "sensitivity: { perturb: 0.2 }\n"
        text = text.replacingOccurrences(of: "  matrix:\n", with: """
              categories:
                - { value: 1, name: 重点防治区, english: key, colour: [230, 0, 0], advice: 建设堤防并安排搬迁 build levees and resettle }
                - { value: 2, name: 次重点防治区, english: secondary, colour: [255, 170, 0], advice: 加强监测预警 monitor and warn }
                - { value: 3, name: 一般防治区, english: general, colour: [56, 168, 0] }
              matrix:

            """)
        // The first run only gives the second its previous classes (changes): no maps, no sensitivity.
        try text.replacingOccurrences(of: "risk-zones, statistics, prevention, maps, sensitivity]", with: "statistics]")
            .replacingOccurrences(of: "sensitivity: { perturb: 0.2 }\n", with: "")
            .write(toFile: job, atomically: true, encoding: .utf8)
        _ = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        try text.replacingOccurrences(of: "weighted-sum: { flood: 0.45, fire: 0.25, seismic: 0.30 }",
                                      with: "weighted-sum: { flood: 0.25, fire: 0.45, seismic: 0.30 }").write(toFile: job, atomically: true, encoding: .utf8)
        let second = try Runner(plan: try Planner().resolve(try JobLoader().load(job)), options: RunOptions(threads: 2)).run()
        return (fx, second)
    }

    static func json(_ path: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) }

    /// The tables of a dumped DOM, by id: rows of cell texts (header row first), parsed by Python's html.parser.
    static let domTables = """
        import sys, json
        from html.parser import HTMLParser
        class P(HTMLParser):
            def __init__(s):
                super().__init__(); s.tables = {}; s.cur = None; s.row = None; s.cell = None
            def handle_starttag(s, tag, attrs):
                a = dict(attrs)
                if tag == 'table': s.cur = a.get('id'); s.tables[s.cur] = []
                elif tag == 'tr' and s.cur is not None: s.row = []; s.tables[s.cur].append(s.row)
                elif tag in ('td', 'th') and s.row is not None: s.cell = ''
            def handle_endtag(s, tag):
                if tag in ('td', 'th') and s.cell is not None: s.row.append(s.cell.strip()); s.cell = None
                elif tag == 'table': s.cur = None
            def handle_data(s, d):
                if s.cell is not None: s.cell += d
        p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); print(json.dumps(p.tables))
        """
}

extension ReportTests {
    /// One pair of runs, every check of the report on it.
    @Test func theReportOfARunShowsItsJSONProductsInChromiumThePDFAndTheWorkbook() throws {
        let (fx, result) = try Self.twoRuns()
        let run = result.runDirectory
        for name in ["report.html", "report.pdf", "tables.xlsx", "attribution.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(name)"), "\(name) missing")
        }
        let html = try String(contentsOfFile: "\(run)/report.html", encoding: .utf8)
        #expect(html.range(of: "(src|href)=\"(https?:)?//", options: .regularExpression) == nil, "the page refers to the network")
        try checkDOM(fx, run: run)
        try checkScreenshot(fx, run: run)
        try checkPDF(run: run)
        try checkWorkbook(run: run)
        try checkWeightedSumAttribution(run: run)
        try checkSummaryPage(fx, run: run)
    }

    func checkDOM(_ fx: Fixture, run: String) throws {
        let dom = try shell(Self.chromium, Self.offline + ["--dump-dom", "file://\(run)/report.html"])
        try fx.project.write("dom.html", dom)
        let tables = try #require(try JSONSerialization.jsonObject(with: Data(shell("/usr/bin/python3", ["-c", Self.domTables, fx.project.path("dom.html")]).utf8)) as? [String: [[String]]])
        let manifest = try #require(try Self.json("\(run)/manifest.json") as? [String: Any])
        let stats = try #require(try Self.json("\(run)/stats.json") as? [[String: Any]])
        // County table: one row per level, area (ha, 1 decimal), share, persons and floor (integers), from manifest.json.
        let county = try #require(tables["county"])
        let classes = (manifest["statistics"] as! [String: Any])["classes"] as! [[String: Any]]
        let totals = manifest["totals"] as! [[String: Any]]
        #expect(county.count == 1 + classes.count + 2, "\(county)")
        for (i, c) in classes.enumerated() {
            let row = county[i + 1]
            #expect(row[1] == String(format: "%.1f", c["area_ha"] as! Double) && row[2] == String(format: "%.1f", c["percent"] as! Double), "\(row)")
            for (j, t) in totals.enumerated() {
                let v = ((t["classes"] as! [[String: Any]]).first { $0["value"] as! Int == c["value"] as! Int }!["total"] as! Double)
                #expect(row[3 + j] == groupedInteger(v), "\(t["name"]!) class \(c["value"]!): \(row[3 + j]) vs \(v)")
            }
        }
        // Township table: level, mean index, areas per class, persons per class, from stats.json.
        let towns = try #require(tables["townships"])
        #expect(towns.count == 1 + stats.count)
        for (row, s) in zip(towns.dropFirst(), stats) {
            #expect(row[0] == s["name"] as! String && row[3] == String(format: "%.3f", s["mean_index"] as! Double))
            #expect(row[4] == String(format: "%.1f", s["valid_area_ha"] as! Double))
            let areas = (s["classes"] as! [[String: Any]]).map { String(format: "%.1f", $0["area_ha"] as! Double) }
            #expect(Array(row[5..<9]) == areas)
            #expect(row[9] == groupedInteger(s["persons_total"] as! Double))
            #expect(Array(row[10..<14]) == (1...4).map { groupedInteger(s["persons_class_\($0)"] as! Double) })
        }
        // Prevention areas from manifest.json, stability shares from sensitivity.json.
        let categories = (manifest["prevention"] as! [String: Any])["categories"] as! [[String: Any]]
        let prevention = try #require(tables["prevention"])
        #expect(prevention.dropFirst().map { $0[1] } == categories.map { String(format: "%.1f", $0["area_ha"] as! Double) })
        #expect(prevention.contains { $0.last == "建设堤防并安排搬迁 build levees and resettle" } && prevention.last?.last == "—")
        try checkPreventionPeople(fx, run: run, table: prevention)
        let stability = try #require(try Self.json("\(run)/sensitivity.json") as? [[String: Any]])
        let shown = try #require(tables["sensitivity"])
        #expect(shown.count == 1 + stats.count)
        for (row, s) in zip(shown.dropFirst(), stability) {
            #expect(row[0] == s["name"] as! String && row[2] == String(format: "%.1f", s["stable_percent"] as! Double)
                    && row[3] == String(format: "%.1f", s["at_least80_percent"] as! Double), "\(row) vs \(s)")
        }
        #expect(tables["changes"] != nil && tables["provenance"]?.contains { $0.count == 4 && $0[3].count == 64 } == true)
    }

    /// The screenshot of the page holds the map: many colours, and the class colours of the scheme.
    func checkScreenshot(_ fx: Fixture, run: String) throws {
        let shot = fx.project.path("shot.png")
        try shell(Self.chromium, Self.offline + ["--screenshot=\(shot)", "--window-size=1200,4200", "--hide-scrollbars", "file://\(run)/report.html"])
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, numpy as np
            from osgeo import gdal
            a = gdal.Open(sys.argv[1]).ReadAsArray()[:3].reshape(3, -1).T
            colours = {tuple(int(v) for v in c) for c in np.unique(a, axis=0)}
            scheme = [(0, 112, 192), (255, 230, 0), (255, 140, 0), (230, 0, 0)]
            print(len(colours), sum(1 for c in scheme if c in colours))
            """, shot])
        let parts = out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(parts.count == 2 && parts[0] > 200 && parts[1] >= 3, "screenshot: \(out) (distinct colours, scheme colours seen)")
    }
}

extension ReportTests {
    /// pdftotext holds the county table (level names, areas, persons as the manifest has them); every font embedded.
    func checkPDF(run: String) throws {
        let text = try shell("/usr/bin/pdftotext", ["-layout", "\(run)/report.pdf", "-"])
        let manifest = try #require(try Self.json("\(run)/manifest.json") as? [String: Any])
        let classes = (manifest["statistics"] as! [String: Any])["classes"] as! [[String: Any]]
        let persons = (manifest["totals"] as! [[String: Any]]).first { $0["name"] as! String == "persons" }!["classes"] as! [[String: Any]]
        let lines = text.split(separator: "\n").map(String.init)
        for c in classes {
            let area = String(format: "%.1f", c["area_ha"] as! Double)
            let people = groupedInteger(persons.first { $0["value"] as! Int == c["value"] as! Int }!["total"] as! Double)
            let name = (c["name"] as! String).split(separator: " ").first.map(String.init) ?? ""
            #expect(lines.contains { $0.contains(name) && $0.contains(area) && $0.contains(people) }, "no line with \(name) \(area) \(people)")
        }
        #expect(text.contains("表 2 Table 2") && text.contains("图 1 Figure 1") && text.contains("测试制图单位") && text.contains("Page 2"))
        let fonts = try shell("/usr/bin/pdffonts", ["\(run)/report.pdf"]).split(separator: "\n").dropFirst(2)
        #expect(!fonts.isEmpty && fonts.allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().contains("yes") },
                "fonts not embedded: \(fonts)")
        #expect(fonts.contains { $0.contains("CJK") }, "no CJK font: \(fonts)")
    }

    /// openpyxl reads the workbook: the townships sheet equals stats.json, people cells use an integer format, the chart exists.
    func checkWorkbook(run: String) throws {
        let out = try shell("/usr/bin/env", ["python3", "-c", """
            import sys, json, openpyxl
            wb = openpyxl.load_workbook(sys.argv[1])
            ws = wb['townships 乡镇']
            rows = [[c.value for c in r] for r in ws.iter_rows()]
            fmt = ws.cell(row=2, column=10).number_format
            print(json.dumps({'sheets': wb.sheetnames, 'rows': rows, 'freeze': ws.freeze_panes, 'format': fmt,
                              'charts': len(wb['chart']._charts), 'county': [[c.value for c in r] for r in wb['county 全域汇总'].iter_rows()]}))
            """, "\(run)/tables.xlsx"])
        let book = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(book["sheets"] as? [String] == ["county 全域汇总", "townships 乡镇", "prevention 防治", "changes 变化", "sensitivity 稳定性", "chart"])
        #expect(book["freeze"] as? String == "A2" && book["format"] as? String == "#,##0" && book["charts"] as? Int == 1)
        let rows = book["rows"] as! [[Any]]
        let stats = try #require(try Self.json("\(run)/stats.json") as? [[String: Any]])
        #expect((rows[0][9] as? String)?.contains("persons") == true && rows.count == 1 + stats.count)
        // libxlsxwriter writes numbers with 16 significant digits (%.16G): equal to 1e-15 relative.
        func same(_ a: Any?, _ b: Any?) -> Bool {
            guard let x = a as? Double, let y = b as? Double else { return false }
            return abs(x - y) <= 1e-15 * max(1, abs(y))
        }
        for (row, s) in zip(rows.dropFirst(), stats) {
            #expect(row[0] as? String == s["name"] as? String)
            #expect(same(row[3], s["mean_index"]) && same(row[4], s["valid_area_ha"]), "\(row) vs \(s)")
            #expect(same(row[9], s["persons_total"]), "\(row[9]) vs \(s["persons_total"]!)")
            for k in 1...4 { #expect(same(row[9 + k], s["persons_class_\(k)"]), "class \(k): \(row[9 + k]) vs \(s["persons_class_\(k)"]!)") }
        }
    }

    /// A weighted sum: the contributions sum to stats.json's mean index (1e-9) and are w·mean(x) (Float32 index, 1e-6).
    func checkWeightedSumAttribution(run: String) throws {
        let a = try #require(try Self.json("\(run)/attribution.json") as? [String: Any])
        let stats = try #require(try Self.json("\(run)/stats.json") as? [[String: Any]])
        #expect(a["split"] as? String == "proportional" && a["members"] as? [String] == ["flood", "fire", "seismic"])
        let weights = a["weights"] as! [Double]
        for (t, s) in zip(a["townships"] as! [[String: Any]], stats) {
            let mean = s["mean_index"] as! Double
            let members = t["members"] as! [[String: Any]]
            let sum = members.reduce(0.0) { $0 + ($1["contribution"] as! Double) }
            #expect(abs(sum - mean) <= 1e-9, "\(s["name"]!): Σ contributions \(sum) vs mean index \(mean)")
            for (m, w) in zip(members, weights) {
                let c = m["contribution"] as! Double, x = m["mean"] as! Double
                #expect(abs(c - w * x) <= 1e-6, "\(m["name"]!): \(c) vs w·mean(x) = \(w * x)")
            }
            let best = members.max { ($0["contribution"] as! Double) < ($1["contribution"] as! Double) }!["name"] as! String
            #expect(t["deciding"] as? String == best)
        }
    }

    /// `hazard-zoning report OUT`: index.html lists the job's latest run with its level table and report link.
    func checkSummaryPage(_ fx: Fixture, run: String) throws {
        let out = fx.project.path("out")
        let (status, stdout, stderr) = try runProcess(BadInputTests.executable, ["report", out])
        #expect(status == 0, "\(stderr)")
        #expect(stdout.contains("1 job (totals)"))
        let page = try String(contentsOfFile: "\(out)/index.html", encoding: .utf8)
        let runID = run.split(separator: "/").last.map(String.init) ?? ""
        #expect(page.contains("totals/\(runID)/report.html") && page.contains("totals/\(runID)/risk_map.png"))
        let (bad, _, message) = try runProcess(BadInputTests.executable, ["report", fx.project.path("layers")])
        #expect(bad != 0 && message.contains("layers") && message.contains("no job folder with a published run"), "\(message)")
    }
}

extension ReportTests {
    /// Two townships (西: columns 0–24, 东: 25–59) on a 60 × 50 grid of 30 m cells with the layers
    /// `a`, `b` (and `c`) in 0..100 (identity normalisation, /100), the model `combine`, run through
    /// `batch` (which also writes the summary page); returns the project and the run folder.
    static func twoTownRun(combine: String, name: String, layers: [String] = ["a", "b", "c"]) throws -> (Project, String) {
        let p = try Project()
        let (w, h, x0, y1) = (60, 50, 500_000.0, 4_401_500.0)
        var a = [Float](repeating: 0, count: w * h), b = a, c = a
        for r in 0..<h {
            for col in 0..<w {
                a[r * w + col] = Float(5 + 90 * Double(col) / Double(w - 1))
                b[r * w + col] = (r * 7 + col * 3) % 41 == 0 ? 0 : Float(20 + 70 * abs(sin(Double(r) * 0.2 + Double(col) * 0.05)))
                c[r * w + col] = Float(100 * Double(r) / Double(h - 1))
            }
        }
        let gt = [x0, 30, 0, y1, 0, -30]
        for (n, v) in [("a", a), ("b", b), ("c", c)] {
            try p.raster("layers/\(n).tif", width: w, height: h, geoTransform: gt, crs: "EPSG:4545", nodata: -9999, values: v)
            try p.write("layers/\(n).yaml", "source: \(n).tif\n")
        }
        let (x1, y0, xm) = (x0 + 30 * Double(w), y1 - 30 * Double(h), x0 + 30 * 25)
        func box(_ name: String, _ id: Int, _ l: Double, _ r: Double) -> String {
            "{\"type\":\"Feature\",\"properties\":{\"name\":\"\(name)\",\"tid\":\(id)},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[\(l),\(y0)],[\(r),\(y0)],[\(r),\(y1)],[\(l),\(y1)],[\(l),\(y0)]]]}}"
        }
        try p.vector("layers/towns.gpkg", layer: "towns", crs: "EPSG:4545",
                     geojson: "{\"type\":\"FeatureCollection\",\"features\":[\(box("西", 1, x0, xm)),\(box("东", 2, xm, x1))]}")
        try p.write("layers/towns.yaml", "source: towns.gpkg\nlayer: towns\nattribute: tid\n")
        try p.write("jobs/\(name).yaml", """
            version: 1
            name: \(name)
            grid: { crs: EPSG:4545, resolution: 30, extent: [\(x0), \(y0), \(x1), \(y1)] }
            layers:
            \(layers.map { "  \($0): { layer: \($0), normalize: { linear: [0, 100] } }" }.joined(separator: "\n"))
            combine:
              \(combine)
            classify: { scheme: four-colour, breaks: [0.1, 0.3, 0.5] }
            zoning:
              townships: { layer: towns, name: name }
            outputs:
              directory: out/\(name)
              products: [risk-index, risk-class, statistics]
            """)
        let entries = try Operations.runBatch(p.path("jobs"), options: RunOptions(threads: 3))
        #expect(entries.map(\.status) == [.ok])
        let run = try #require(Publisher(outputDirectory: p.path("out/\(name)")).latestRun)
        return (p, run)
    }

    /// numpy: the towns rasterised by gdal_rasterize, the layers x = [a, b, c] / 100, the published
    /// index I and classes; `shares` (Python computing the per-pixel shares list from x) gives each
    /// town's mean index and mean(I · share) per member.
    static func twoTownOracle(_ p: Project, run: String, shares: String) throws -> [[String: Any]] {
        let oracle = try shell("/usr/bin/python3", ["-c", """
            import sys, json, subprocess, itertools, math, numpy as np
            from osgeo import gdal
            layers, run, work = sys.argv[1:4]
            subprocess.run(['gdal_rasterize', '-q', '-a', 'tid', '-l', 'towns', '-te', '500000', '4400000', '501800', '4401500',
                            '-tr', '30', '30', '-ot', 'UInt16', '-init', '0', layers + '/towns.gpkg', work + '/towns.tif'], check=True)
            t = gdal.Open(work + '/towns.tif').ReadAsArray()
            x = [np.clip(gdal.Open(f'{layers}/{n}.tif').ReadAsArray().astype(np.float64) / 100, 0, 1) for n in 'abc']
            I = gdal.Open(run + '/risk_index.tif').ReadAsArray().astype(np.float64)
            cls = gdal.Open(run + '/risk_class.tif').ReadAsArray()
            \(shares)
            out = []
            for town in (1, 2):
                m = (t == town) & (cls > 0)
                out.append({'mean': float(I[m].mean()), 'parts': [float((I * s)[m].mean()) for s in shares]})
            print(json.dumps(out))
            """, p.path("layers"), run, p.root.path])
        return try #require(try JSONSerialization.jsonObject(with: Data(oracle.utf8)) as? [[String: Any]])
    }

    /// attribution.json's member contributions against numpy's (1e-7: the kernel normalises in
    /// Float32, numpy in float64) and their sum against the township's mean index (1e-9).
    static func expectParts(_ run: String, equal expected: [[String: Any]], split: String, form: String) throws {
        let a11n = try #require(try json("\(run)/attribution.json") as? [String: Any])
        #expect(a11n["split"] as? String == split && a11n["form"] as? String == form)
        for (t, e) in zip(a11n["townships"] as! [[String: Any]], expected) {
            let parts = (t["members"] as! [[String: Any]]).map { $0["contribution"] as! Double }
            let want = e["parts"] as! [Double]
            #expect(abs((t["mean_index"] as! Double) - (e["mean"] as! Double)) <= 1e-9)
            #expect(parts.count == want.count)
            for (got, oracle) in zip(parts, want) { #expect(abs(got - oracle) <= 1e-7, "\(t["name"]!): \(parts) vs numpy \(want)") }
            #expect(abs(parts.reduce(0, +) - (e["mean"] as! Double)) <= 1e-9)
        }
    }

    /// A product model a × b over two townships: attribution.json against numpy's log-contribution
    /// split of the published index.
    @Test func aProductModelIsSplitByLogContributionsAsNumpyDoes() throws {
        let (p, run) = try Self.twoTownRun(combine: "product: [a, b]", name: "product", layers: ["a", "b"])
        let summary = try String(contentsOfFile: p.path("out/index.html"), encoding: .utf8)
        #expect(summary.contains("id=\"job-product\"") && summary.contains("product/\(run.fileName)/report.html"))
        let expected = try Self.twoTownOracle(p, run: run, shares: """
            with np.errstate(divide='ignore', invalid='ignore'):
                logs = [np.log(v) for v in x[:2]]
                total = logs[0] + logs[1]
                zero = [v <= 0 for v in x[:2]]
                nz = zero[0].astype(float) + zero[1].astype(float)
                shares = [np.where(nz > 0, z / np.maximum(nz, 1), np.where(total != 0, l / total, 0.5)) for z, l in zip(zero, logs)]
            """)
        try Self.expectParts(run, equal: expected, split: "log", form: "product")
    }

    /// An expression a·(0.2 + 0.8·b)·(1 − 0.5·c) (c lowers the index): split by the members' Shapley
    /// values with the all-zero baseline, against numpy's over all coalitions; c's part is negative.
    @Test func anExpressionIsSplitByShapleyValuesAsNumpyDoes() throws {
        let (p, run) = try Self.twoTownRun(combine: "expression: \"a * (0.2 + 0.8 * b) * (1 - 0.5 * c)\"", name: "expression")
        let expected = try Self.twoTownOracle(p, run: run, shares: """
            f = lambda a, b, c: a * (0.2 + 0.8 * b) * (1 - 0.5 * c)
            phi = [np.zeros_like(I) for _ in range(3)]
            for j in range(3):
                others = [k for k in range(3) if k != j]
                for size in range(3):
                    for S in itertools.combinations(others, size):
                        w = math.factorial(size) * math.factorial(2 - size) / math.factorial(3)
                        base = [x[k] if k in S else np.zeros_like(I) for k in range(3)]
                        withj = list(base); withj[j] = x[j]
                        phi[j] += w * (f(*withj) - f(*base))
            total = phi[0] + phi[1] + phi[2]
            with np.errstate(divide='ignore', invalid='ignore'):
                shares = [np.where(total != 0, v / total, 1 / 3) for v in phi]
            """)
        try Self.expectParts(run, equal: expected, split: "shapley", form: "expression")
        let a11n = try #require(try Self.json("\(run)/attribution.json") as? [String: Any])
        for t in a11n["townships"] as! [[String: Any]] {
            let c = try #require((t["members"] as! [[String: Any]]).first { $0["name"] as? String == "c" })
            #expect((c["contribution"] as! Double) < 0, "capacity-like c lowers the index: \(c)")
        }
        let html = try String(contentsOfFile: "\(run)/report.html", encoding: .utf8)
        #expect(html.contains("Shapley values (baseline: every member at 0)"))
    }
}

extension ReportTests {
    /// `report:` and `advice:` are checked where they are written.
    @Test func badReportKeysAreReportedWithTheirLineAndColumn() throws {
        let fx = try Fixture()
        var text = try String(contentsOfFile: fx.jobPath, encoding: .utf8)
        text += "report: { unit: \"  \", colour: red }\n"
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let error = try #require(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        let found = error.diagnostics.map { "\($0.file):\($0.line):\($0.column) \($0.message)" }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(found.contains { $0.hasPrefix("\(fx.jobPath):\(line):") && $0.contains("colour") && $0.contains("expected one of: title, unit") }, "\(found)")
        text = text.replacingOccurrences(of: "colour: red ", with: "")
        try text.write(toFile: fx.jobPath, atomically: true, encoding: .utf8)
        let second = try #require(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        #expect(second.diagnostics.contains { $0.line == line && $0.message.contains("report.unit must be a non-empty text") }, "\(second.diagnostics)")
    }
}

extension ReportTests {
    /// People per prevention category (manifest.json, shown in the report) against numpy: persons
    /// warped by the gdalwarp command line (average × pixel area) summed over prevention_class.tif.
    func checkPreventionPeople(_ fx: Fixture, run: String, table: [[String]]) throws {
        let out = try shell("/usr/bin/python3", ["-c", """
            import sys, json, subprocess, numpy as np
            from osgeo import gdal
            layers, run, work = sys.argv[1:4]
            subprocess.run(['gdalwarp', '-q', '-t_srs', 'EPSG:4545', '-te', *sys.argv[4:8], '-tr', '30', '30', '-r', 'average',
                            '-ot', 'Float64', '-dstnodata', 'nan', '-et', '0.125', '-srcnodata', '-9999', layers + '/pop.tif', work + '/persons.tif'], check=True)
            q = gdal.Open(work + '/persons.tif').ReadAsArray() * (900 / 1e6)
            c = gdal.Open(run + '/prevention_class.tif').ReadAsArray()
            print(json.dumps([float(q[(c == k) & np.isfinite(q)].sum()) for k in (1, 2, 3)]))
            """, fx.project.path("layers"), run, fx.project.root.path, "\(Fixture.xmin)", "\(Fixture.ymin)", "\(Fixture.xmax)", "\(Fixture.ymax)"])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [Double])
        let manifest = try #require(try Self.json("\(run)/manifest.json") as? [String: Any])
        let categories = (manifest["prevention"] as! [String: Any])["categories"] as! [[String: Any]]
        for (k, (category, want)) in zip(categories, expected).enumerated() {
            let got = ((category["totals"] as? [String: Double])?["persons"]) ?? .nan
            #expect(abs(got - want) <= 1e-6 * max(1, want), "category \(k + 1): \(got) persons vs numpy \(want)")
            #expect(table[k + 1][2] == groupedInteger(got), "the report shows \(table[k + 1][2]) for \(got)")
        }
    }
}
