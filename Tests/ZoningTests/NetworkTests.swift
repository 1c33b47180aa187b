import Foundation
import GDALKit
import Testing
@testable import Zoning

/// A loopback HTTP server (python3 http.server on a thread) that counts the TCP connections it
/// accepts, serving the files of one folder.
final class CountingServer {
    let process = Process()
    let input = Pipe()
    let port: Int
    let countFile: String

    init(serving folder: String) throws {
        countFile = folder + "/.connections"
        FileManager.default.createFile(atPath: countFile, contents: Data())
        let script = """
            import http.server, socketserver, sys, threading, functools
            count_file = sys.argv[2]
            class Server(http.server.ThreadingHTTPServer):
                def verify_request(self, request, address):
                    with open(count_file, "a") as f:
                        f.write("x\\n")
                    return True
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            server = Server(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            print(server.server_address[1], flush=True)
            sys.stdin.read()
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, folder, countFile]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    var connections: Int {
        (try? String(contentsOfFile: countFile, encoding: .utf8))?.split(separator: "\n").count ?? 0
    }

    deinit {
        // Closing its stdin ends the server; SIGKILL in case a signal mask kept it alive.
        try? input.fileHandleForWriting.close()
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// `allow-network: false` (the default) holds against every probe of issue 11: the server on
/// 127.0.0.1 sees 0 connections, whether the probe is refused by validation or reaches GDAL.
@Suite(.serialized) struct NetworkTests {
    /// Sources that would reach the server, with the local files some of them need.
    static func probes(_ fx: Fixture, port: Int) throws -> [(name: String, source: String, staticallyRefused: Bool)] {
        let url = "http://127.0.0.1:\(port)"
        let p = fx.project
        try p.write("layers/wms.xml", """
            <GDAL_WMS><Service name="WMS"><Version>1.1.1</Version><ServerUrl>\(url)/wms?</ServerUrl><Layers>x</Layers></Service>
            <DataWindow><UpperLeftX>107</UpperLeftX><UpperLeftY>40</UpperLeftY><LowerRightX>109</LowerRightX><LowerRightY>39</LowerRightY>
            <SizeX>1000</SizeX><SizeY>500</SizeY></DataWindow><Projection>EPSG:4326</Projection><BandsCount>1</BandsCount></GDAL_WMS>
            """)
        try p.write("layers/ogr.vrt", """
            <OGRVRTDataSource><OGRVRTLayer name="pga"><SrcDataSource>/vsicurl/\(url)/seismic.gpkg</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>
            """)
        try p.write("layers/remote.vrt", """
            <VRTDataset rasterXSize="100" rasterYSize="60"><SRS>EPSG:4326</SRS><GeoTransform>107.88, 0.002, 0, 39.84, 0, -0.002</GeoTransform>
            <VRTRasterBand dataType="Float32" band="1"><SimpleSource><SourceFilename relativeToVRT="0">\(url)/fire.tif</SourceFilename>
            <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>
            """)
        try p.write("layers/outer.vrt", """
            <VRTDataset rasterXSize="100" rasterYSize="60"><SRS>EPSG:4326</SRS><GeoTransform>107.88, 0.002, 0, 39.84, 0, -0.002</GeoTransform>
            <VRTRasterBand dataType="Float32" band="1"><SimpleSource><SourceFilename relativeToVRT="1">remote.vrt</SourceFilename>
            <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>
            """)
        try p.write("layers/escaped.vrt", """
            <VRTDataset rasterXSize="100" rasterYSize="60"><SRS>EPSG:4326</SRS><GeoTransform>107.88, 0.002, 0, 39.84, 0, -0.002</GeoTransform>
            <VRTRasterBand dataType="Float32" band="1"><SimpleSource><SourceFilename relativeToVRT="0">/vsi&#99;url/\(url.replacingOccurrences(of: "://", with: ":&#47;&#47;"))/fire.tif</SourceFilename>
            <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>
            """)
        // A VRT inside a zip: validation does not look into archives; GDAL itself must refuse.
        try shell("/usr/bin/python3", ["-c", "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.write(sys.argv[2],'remote.vrt'); z.close()",
                                       p.path("layers/hidden.zip"), p.path("layers/remote.vrt")])
        return [
            ("vsicurl", "/vsicurl/\(url)/fire.tif", true),
            ("nested vsigzip of vsicurl", "/vsigzip//vsicurl?url=\(url)/fire.tif.gz", true),
            ("vsizip of vsicurl", "/vsizip//vsicurl/\(url)/fire.zip/fire.tif", true),
            ("plain URL", "\(url)/fire.tif", true),
            ("WMS connection string", "WMS:\(url)/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=x&SRS=EPSG:4326&BBOX=107,39,109,40", true),
            ("GDAL_WMS XML file", p.path("layers/wms.xml"), true),
            ("OGR VRT to vsicurl", p.path("layers/ogr.vrt"), true),
            ("VRT of a URL", p.path("layers/remote.vrt"), true),
            ("VRT of a VRT of a URL", p.path("layers/outer.vrt"), true),
            ("NETCDF on a URL", "NETCDF:\"\(url)/x.nc\":depth", true),
            ("PG connection", "PG:host=127.0.0.1 port=\(port) dbname=x", true),
            ("VRT of a URL inside a zip", "/vsizip/\(p.path("layers/hidden.zip"))/remote.vrt", true),
            // A character reference hides /vsicurl from the scan; GDAL's own configuration stops it.
            ("VRT with an escaped vsicurl", p.path("layers/escaped.vrt"), false),
        ]
    }

    @Test func noProbeOpensAConnection() throws {
        let fx = try Fixture()
        // The files the probes ask for exist on the server, so a connection would succeed.
        try FileManager.default.copyItem(atPath: fx.project.path("layers/fire.tif"), toPath: fx.project.path("layers/served-fire.tif"))
        let server = try CountingServer(serving: fx.project.path("layers"))
        #expect(server.port > 0)
        let probes = try Self.probes(fx, port: server.port)

        for probe in probes {
            // 1. Validation names the layer file and the position of `source:`.
            try fx.project.write("layers/fire-danger.yaml", "source: '\(probe.source.replacingOccurrences(of: "'", with: "''"))'\n")
            do {
                _ = try JobLoader().load(fx.jobPath)
                #expect(!probe.staticallyRefused, "\(probe.name): accepted by validation")
            } catch let e as DiagnosticsError {
                #expect(probe.staticallyRefused, "\(probe.name): \(e)")
                #expect(e.diagnostics.contains { $0.file.hasSuffix("layers/fire-danger.yaml") && $0.line == 1 && $0.column == 9
                    && $0.message.contains("network") }, "\(probe.name): \(e)")
            }
            // 2. The CLI run fails cleanly (validation, or GDAL refusing to open it).
            let (status, reason, _, err) = try runProcessWithTimeout(BadInputTests.executable, ["run", fx.jobPath, "--threads", "2"], seconds: 60)
            #expect(reason == .exit && status == 65, "\(probe.name): \(reason) \(status) \(err)")
            #expect(err.contains("network"), "\(probe.name): \(err)")
            #expect(err.contains("fire-danger.yaml") || err.contains("layers.fire") || err.contains(probe.source), "\(probe.name): \(err)")
            // 3. GDAL itself, configured offline, refuses the raw source (no validation in front).
            NetworkPolicy.offline {
                // A VRT opens lazily: then reading its pixels must fail.
                let read = try? Dataset(open: probe.source).band(1).read(PixelWindow(x: 0, y: 0, width: 10, height: 10)) as [Float]
                #expect(read == nil, "\(probe.name): read while offline")
            }
            #expect(server.connections == 0, "\(probe.name): \(server.connections) connection(s)")
        }
        // GDAL's virtual file system itself, under the policy, past GDALKit's checks.
        NetworkPolicy.offline {
            for path in ["/vsicurl/http://127.0.0.1:\(server.port)/fire.tif", "/vsigzip//vsicurl/http://127.0.0.1:\(server.port)/fire.tif.gz",
                         "/vsicurl?url=http://127.0.0.1:\(server.port)/fire.tif"] {
                #expect((try? VSI.read(path)) == nil, "\(path) read while offline")
                #expect(!VSI.exists(path), "\(path) seen while offline")
            }
        }
        #expect(server.connections == 0, "VSI: \(server.connections) connection(s)")
        // The server does count: the same kind of request without the policy reaches it.
        try shell("/usr/bin/gdalinfo", ["/vsicurl/http://127.0.0.1:\(server.port)/served-fire.tif"])
        #expect(server.connections > 0)
    }

    /// A job may not loosen the policy through `gdal-config`.
    @Test func networkOptionsNeedAllowNetwork() throws {
        let fx = try Fixture(extraJob: "gdal-config:\n  GDAL_HTTP_PROXY: ''\n  CPL_VSIL_CURL_ALLOWED_EXTENSIONS: .tif\n  GDAL_CACHEMAX: '64'\n")
        #expect(throws: DiagnosticsError.self) { try JobLoader().load(fx.jobPath) }
        do { _ = try JobLoader().load(fx.jobPath) } catch let e as DiagnosticsError {
            let text = e.description
            #expect(text.contains("CPL_VSIL_CURL_ALLOWED_EXTENSIONS concerns network access"), "\(text)")
            #expect(text.contains("GDAL_HTTP_PROXY may not be set"), "\(text)")
            #expect(!e.diagnostics.contains { $0.message.hasPrefix("gdal-config.GDAL_CACHEMAX") }, "\(text)")
        }
    }
}
