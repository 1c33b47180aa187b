import Foundation
import Testing
@testable import GDALKit

/// `NetworkPolicy.offline` changes process-wide GDAL state (drivers, configuration). GDAL reads
/// that state without a lock: `GDALOpenEx` takes the driver count once and then fetches drivers by
/// index, so a driver deregistered meanwhile turns into a NULL driver (a crash in `CSLFindString`
/// when the open names its allowed drivers). Scopes that begin and end on one thread must not
/// disturb opens on another.
@Suite struct NetworkPolicyConcurrencyTests {
    /// An open that no driver takes walks the whole list; EHdr is among the last drivers GDAL
    /// registers, so an open naming it walks nearly all of it.
    @Test func offlineScopesDoNotDisturbOpensOnOtherThreads() throws {
        let path = "/vsimem/policy-race-\(UUID().uuidString).bil"
        defer { for suffix in ["", ".hdr", ".aux.xml", ".prj"] { VSI.unlink(path.replacingOccurrences(of: ".bil", with: suffix.isEmpty ? ".bil" : suffix)) } }
        do {
            let ds = try Dataset.create(driver: "EHdr", path: path, width: 4, height: 4, bands: 1, type: .float32)
            try [Float](repeating: 7, count: 16).withUnsafeBufferPointer { try ds.band(1).write(PixelWindow(x: 0, y: 0, width: 4, height: 4), from: $0) }
            try ds.close()
        }
        let unknown = "/vsimem/policy-race-\(UUID().uuidString).txt"
        try VSI.write(Array("not a raster".utf8), to: unknown)
        defer { VSI.unlink(unknown) }
        let rounds = 1000
        let stop = Flag()
        let scopes = Thread { while !stop.isSet { NetworkPolicy.offline {} } }
        scopes.start()
        defer { stop.set() }
        var values: [Float] = []
        var failures: [String] = []
        for _ in 0..<rounds {
            do {
                let ds = try Dataset(open: path, flags: [.raster], allowedDrivers: ["EHdr"])
                values.append(contentsOf: try ds.band(1).read(PixelWindow(x: 0, y: 0, width: 1, height: 1)) as [Float])
            } catch {
                failures.append("\(error)")
            }
            let refused = (try? Dataset(open: unknown, flags: [.raster], allowedDrivers: ["EHdr"])) == nil
            if !refused { failures.append("\(unknown) opened") }
        }
        #expect(failures.isEmpty, "\(failures.count) opens failed, first: \(failures.first ?? "")")
        #expect(values == [Float](repeating: 7, count: rounds))
    }

    /// An online scope inside an offline one of the same thread would wait for itself: it stops
    /// the process instead (and the other way round); the same mode nests.
    @Test func scopesOfBothModesOnOneThreadStopTheProcess() async {
        await #expect(processExitsWith: .failure) { NetworkPolicy.offline { NetworkPolicy.online {} } }
        await #expect(processExitsWith: .failure) { NetworkPolicy.online { NetworkPolicy.offline {} } }
        await #expect(processExitsWith: .success) {
            NetworkPolicy.offline { NetworkPolicy.offline {} }
            NetworkPolicy.online { NetworkPolicy.scope(allowNetwork: true) {} }
            NetworkPolicy.offline {}
        }
    }

    /// The offline configuration outlives its scope (it is undone only by an `online` scope, which
    /// no test in this process enters): a scope's end changes nothing another thread could see.
    @Test func theOfflineConfigurationOutlivesItsScope() {
        NetworkPolicy.offline {
            #expect(NetworkPolicy.isOffline)
            #expect(!GDAL.hasDriver("WMS"))
            #expect(ConfigOptions.get("GDAL_HTTP_PROXY") == NetworkPolicy.deadProxy)
        }
        #expect(!GDAL.hasDriver("WMS"))
        #expect(ConfigOptions.get("GDAL_HTTP_PROXY") == NetworkPolicy.deadProxy)
    }
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
