import CGDAL
import Foundation
import FilePaths

#if canImport(Glibc)
import Glibc
#endif

/// Keeps GDAL off the network when a job does not allow it, in two layers:
///
/// 1. `networkReference(in:)` refuses, before anything is opened, every source that names the
///    network: network `/vsi…/` handlers anywhere in the path (so nested ones such as
///    `/vsigzip//vsicurl?url=…` count), any `scheme://` (also inside `NETCDF:"http://…"`),
///    connection strings of network drivers (`WMS:`, `PG:`, …), and local XML indirections
///    (VRT, OGR VRT, GDAL_WMS/WMTS/WCS service files) followed recursively.
/// 2. `offline { … }` configures GDAL itself (from the first such scope until an `online` one
///    begins; see `offline`): network drivers deregistered, the
///    `/vsicurl/` family allowed no file at all, every libcurl request GDAL makes sent to a proxy
///    that is a Unix socket that does not exist (so no TCP connection is ever attempted, and no DNS
///    lookup), `CPLHTTPFetch` replaced by a refusal, PROJ's network off. What layer 1 cannot see
///    (an archive holding a VRT, a driver following a link) fails there without a connection.
public enum NetworkPolicy {
    /// GDAL virtual file systems that read over the network.
    public static let networkFileSystems = ["/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift",
                                            "/vsiwebhdfs", "/vsihdfs"]
    /// Connection-string prefixes (`PREFIX:…`) of drivers that talk to servers.
    public static let networkPrefixes: Set<String> = [
        "WMS", "WMTS", "WCS", "WFS", "OAPIF", "OGCAPI", "EEDA", "EEDAI", "PLSCENES", "PLMOSAIC", "DAAS", "NGW", "STACIT",
        "STACTA", "CARTO", "AMIGOCLOUD", "ES", "ELASTICSEARCH", "COUCHDB", "MONGODB", "MONGODBV3", "PG", "POSTGISRASTER",
        "MYSQL", "OCI", "MSSQL", "ODBC", "HANA", "GNM", "CSW", "GEORASTER", "SDE", "TILEDB",
    ]
    /// Drivers that talk to servers; deregistered while `offline` runs.
    public static let networkDrivers = [
        "WMS", "WMTS", "WCS", "WFS", "OAPIF", "OGCAPI", "EEDA", "EEDAI", "PLSCENES", "PLMOSAIC", "DAAS", "NGW", "STACIT",
        "STACTA", "Carto", "AmigoCloud", "Elasticsearch", "CouchDB", "MongoDBv3", "PostgreSQL", "PostGISRaster", "MySQL",
        "OCI", "MSSQLSpatial", "ODBC", "HANA", "GNMDatabase", "CSW", "HTTP", "GeoRaster", "TileDB",
    ]
    /// Root elements of local XML files through which GDAL reads other sources or services.
    static let serviceRoots: Set<String> = ["GDAL_WMS", "GDAL_WMTS", "WCS_GDAL", "GDAL_WCS", "OGRWFSDataSource", "WFS_GDAL"]
    static let indirectionRoots: Set<String> = ["VRTDataset", "OGRVRTDataSource"]

    /// Why `source` would make GDAL read over the network, or nil. Local XML indirections are read
    /// (at most `depth` levels, 4 MiB each) and every source they name is checked the same way.
    public static func networkReference(in source: String, depth: Int = 8) -> String? {
        var visited = Set<String>()
        return check(source, base: nil, depth: depth, visited: &visited)
    }

    private static func check(_ source: String, base: String?, depth: Int, visited: inout Set<String>) -> String? {
        let lower = source.lowercased()
        for fs in networkFileSystems where lower.contains(fs) { return "\(fs)/ reads over the network" }
        if let r = lower.range(of: "[a-z][a-z0-9+.-]*://", options: .regularExpression) {
            return "\(lower[r]) is a network address"
        }
        let trimmed = source.trimmingCharacters(in: .whitespacesAndNewlines)
        if let colon = trimmed.firstIndex(of: ":"), trimmed[..<colon].range(of: "^[A-Za-z0-9_]+$", options: .regularExpression) != nil,
           networkPrefixes.contains(trimmed[..<colon].uppercased()) {
            return "\(trimmed[..<colon]): opens a network driver"
        }
        if trimmed.hasPrefix("<") { return checkXML(trimmed, base: base, depth: depth, visited: &visited) }
        // A local file, or a member of a local archive: follow it when it is an XML indirection.
        var path = source
        if !path.hasPrefix("/"), let base { path = base.hasSuffix("/") ? base + path : base + "/" + path }
        let resolved = path.hasPrefix("/vsi") ? path : URL(fileURLWithPath: path).standardizedFileURL.path
        // Only text starting with "<" is read further (a raster or a GeoPackage is never read here).
        guard depth > 0, !visited.contains(resolved), let start = head(resolved, bytes: 1024),
              let first = start.first(where: { !" \t\r\n".utf8.contains($0) }), first == UInt8(ascii: "<"),
              let data = head(resolved, bytes: 4 << 20) else { return nil }
        visited.insert(resolved)
        let text = String(decoding: data, as: UTF8.self)
        return checkXML(text, base: resolved.parentPath, depth: depth - 1, visited: &visited)
            .map { "\(resolved) refers to the network: \($0)" }
    }

    /// The first bytes of a local file or of a member of a local archive (`/vsizip/…`), read
    /// through GDAL's virtual file system (no network handler can be involved: checked before).
    private static func head(_ path: String, bytes: Int) -> [UInt8]? {
        GDAL.ensureRegistered()
        let (handle, _) = capturingErrors { VSIFOpenL(path, "rb") }
        guard let handle else { return nil }
        defer { VSIFCloseL(handle) }
        var buffer = [UInt8](repeating: 0, count: bytes)
        let n = buffer.withUnsafeMutableBytes { p in capturingErrors { VSIFReadL(p.baseAddress, 1, bytes, handle) }.0 }
        return Array(buffer[0..<n])
    }

    /// XML indirections: service files are network; VRTs are followed source by source.
    private static func checkXML(_ text: String, base: String?, depth: Int, visited: inout Set<String>) -> String? {
        guard let root = rootElement(text) else { return nil }
        if serviceRoots.contains(root) { return "<\(root)> is a network service description" }
        guard indirectionRoots.contains(root) else { return nil }
        // Every element and attribute value naming a source, whatever the element.
        let pattern = "<(SourceFilename|SrcDataSource|SourceDataSource|Filename|SourceDataset|SrcRect_Source|OverviewFile)([^>]*)>([^<]*)<"
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        let ns = text as NSString
        for match in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let value = unescape(ns.substring(with: match.range(at: 3)).trimmingCharacters(in: .whitespacesAndNewlines))
            if value.isEmpty { continue }
            if let problem = check(value, base: base, depth: depth, visited: &visited) { return problem }
        }
        // Anything else in the file that looks like a network address (e.g. in a pixel function's arguments).
        let lower = text.lowercased()
        for fs in networkFileSystems where lower.contains(fs) { return "\(fs)/ reads over the network" }
        return nil
    }

    private static func rootElement(_ text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: "<([A-Za-z_][A-Za-z0-9_.-]*)") else { return nil }
        let ns = text as NSString
        for match in regex.matches(in: text, range: NSRange(location: 0, length: min(ns.length, 65536))) {
            return ns.substring(with: match.range(at: 1))
        }
        return nil
    }

    private static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    // MARK: GDAL configured offline

    /// A proxy libcurl can only reach through a Unix socket that does not exist: every request
    /// fails before any TCP connection or DNS lookup.
    public static let deadProxy = "socks5h://localhost/nonexistent/hazard-zoning-offline.sock"

    static let options: [String: String] = [
        "GDAL_HTTP_PROXY": deadProxy, "GDAL_HTTPS_PROXY": deadProxy, "GDAL_HTTP_PROXYUSERPWD": "",
        "CPL_VSIL_CURL_ALLOWED_FILENAME": "/nonexistent/network-disabled",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".network-disabled",
        "GDAL_HTTP_MAX_RETRY": "0", "GDAL_HTTP_TIMEOUT": "1", "GDAL_HTTP_CONNECTTIMEOUT": "1",
        "GML_DOWNLOAD_WFS_SCHEMA": "NO", "GML_SKIP_RESOLVE_ELEMS": "ALL",
        "PROJ_NETWORK": "OFF",
    ]

    /// GDAL's configuration, process-wide: as registered, offline, or online again.
    enum Mode { case asRegistered, offline, online }

    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var mode = Mode.asRegistered
        /// Scopes running in `mode`; another mode waits until they have all ended.
        var users = 0
        var saved: [(String, String?)] = []
        var drivers: [GDALDriverH] = []
        var projNetwork: Int32 = 0
    }
    private static let state = State()

    private static let refuseFetch: CPLHTTPFetchCallbackFunc = { url, _, _, _, _, _, _ in
        let result = CPLCalloc(1, MemoryLayout<CPLHTTPResult>.size).assumingMemoryBound(to: CPLHTTPResult.self)
        result.pointee.nStatus = 1
        let message = "network access is disabled for this job (allow-network: false): \(url.map { String(cString: $0) } ?? "")"
        result.pointee.pszErrBuf = CPLStrdup(message)
        return result
    }

    /// Whether an `offline` scope is active (for tests and assertions).
    public static var isOffline: Bool {
        state.condition.lock(); defer { state.condition.unlock() }
        return state.mode == .offline && state.users > 0
    }

    /// Runs `body` with GDAL unable to open any network connection.
    ///
    /// The configuration is process-wide and GDAL reads it without a lock (`GDALOpenEx` counts the
    /// drivers once, then fetches them by index), so it is changed only when the mode changes, never
    /// when a scope ends: GDAL starts offline (`startOffline`, at registration) and stays so until an
    /// `online` scope begins. Scopes of one mode run together (and nest); a scope of the other mode
    /// waits until they have all ended. A process running offline jobs therefore changes GDAL's
    /// configuration once, whatever other threads are doing with GDAL between its scopes.
    public static func offline<R>(_ body: () throws -> R) rethrows -> R {
        try scope(.offline, body)
    }

    /// Runs `body` with GDAL as registered (a job with `allow-network: true`): undoes `offline`'s
    /// configuration if an earlier scope made it. Entered inside an `offline` scope of the same
    /// thread (or the other way round) it stops the process: it would wait for itself.
    public static func online<R>(_ body: () throws -> R) rethrows -> R {
        try scope(.online, body)
    }

    /// `offline` unless `allowNetwork`, then `online`.
    public static func scope<R>(allowNetwork: Bool, _ body: () throws -> R) rethrows -> R {
        try scope(allowNetwork ? .online : .offline, body)
    }

    private static func scope<R>(_ mode: Mode, _ body: () throws -> R) rethrows -> R {
        GDAL.ensureRegistered()
        // A scope of the other mode inside this thread's own scope would wait for itself forever.
        let key = "HazardZoning.NetworkPolicy.mode"
        let dictionary = Thread.current.threadDictionary
        let outer = dictionary[key] as? String
        precondition(outer == nil || outer == "\(mode)",
                     "NetworkPolicy: a \(mode) scope inside a \(outer ?? "") scope on the same thread would wait for itself")
        dictionary[key] = "\(mode)"
        defer { dictionary[key] = outer }
        enter(mode)
        defer { leave() }
        return try body()
    }

    /// Called once, from GDAL's registration: GDAL starts offline, so the first `offline` scope
    /// of a process changes nothing (it used to deregister the network drivers then, racing any
    /// other thread's open: a NULL driver in `GDALOpenEx`, seen as crashes of the full test run).
    static func startOffline() {
        state.condition.lock(); defer { state.condition.unlock() }
        guard state.mode == .asRegistered, state.users == 0 else { return }
        configureOffline()
        state.mode = .offline
    }

    private static func enter(_ mode: Mode) {
        state.condition.lock(); defer { state.condition.unlock() }
        while state.users > 0 && state.mode != mode { state.condition.wait() }
        if state.mode != mode {
            switch mode {
            case .offline: configureOffline()
            case .online, .asRegistered: restore()
            }
            state.mode = mode
        }
        state.users += 1
    }

    private static func leave() {
        state.condition.lock(); defer { state.condition.unlock() }
        state.users -= 1
        if state.users == 0 { state.condition.broadcast() }
    }

    private static func configureOffline() {
        state.saved = options.keys.sorted().map { key in (key, CPLGetConfigOption(key, nil).map { String(cString: $0) }) }
        for (key, value) in options { CPLSetConfigOption(key, value) }
        state.drivers = networkDrivers.compactMap { GDALGetDriverByName($0) }
        for driver in state.drivers { GDALDeregisterDriver(driver) }
        CPLHTTPSetFetchCallback(refuseFetch, nil)
        state.projNetwork = OSRGetPROJEnableNetwork()
        OSRSetPROJEnableNetwork(0)
    }

    private static func restore() {
        guard state.mode == .offline else { return }
        for (key, value) in state.saved { CPLSetConfigOption(key, value) }
        for driver in state.drivers { GDALRegisterDriver(driver) }
        state.drivers = []
        CPLHTTPSetFetchCallback(nil, nil)
        OSRSetPROJEnableNetwork(state.projNetwork)
    }
}
