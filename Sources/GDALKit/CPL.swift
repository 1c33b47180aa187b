import CGDAL

/// An owned GDAL string list (`char **`), freed when the value goes away. Lists passed to a C call
/// must outlive it: use `withUnsafePointer` so the list stays alive for the whole call.
public final class CStringList {
    private(set) var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

    public init(_ items: [String] = []) {
        for item in items { append(item) }
    }

    /// `KEY=VALUE` pairs in the given order.
    public convenience init(keyValues: KeyValuePairs<String, String>) {
        self.init(keyValues.map { "\($0.key)=\($0.value)" })
    }

    deinit { CSLDestroy(pointer) }

    public func append(_ item: String) {
        pointer = CSLAddString(pointer, item)
    }

    public var count: Int { Int(CSLCount(pointer)) }

    public var strings: [String] {
        (0..<count).compactMap { i in CSLGetField(pointer, Int32(i)).map { String(cString: $0) } }
    }

    /// The same list typed as `const char *const *` (`CSLConstList`).
    public func withUnsafeConstPointer<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) {
            try body(pointer.map { UnsafeRawPointer($0).assumingMemoryBound(to: UnsafePointer<CChar>?.self) })
        }
    }

    /// Calls `body` with the list; the list is guaranteed to stay alive during the call.
    public func withUnsafePointer<R>(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(pointer) }
    }
}

/// GDAL configuration options for a scope, restored afterwards (like rasterio's `Env`).
public enum ConfigOptions {
    /// Sets process-wide options for the duration of `body` and restores the previous values.
    /// Scopes on other threads see these values and restore theirs over them (and GDAL may still
    /// hold a pointer to a value being replaced): where the work stays on the calling thread, use
    /// `withThreadLocalOptions`.
    public static func withOptions<R>(_ options: [String: String], _ body: () throws -> R) rethrows -> R {
        let keys = options.keys.sorted()
        let previous = keys.map { key in CPLGetConfigOption(key, nil).map { String(cString: $0) } }
        for key in keys { CPLSetConfigOption(key, options[key]) }
        defer {
            for (key, old) in zip(keys, previous) { CPLSetConfigOption(key, old) }
        }
        return try body()
    }

    /// Sets options on the calling thread only for the duration of `body`.
    public static func withThreadLocalOptions<R>(_ options: [String: String], _ body: () throws -> R) rethrows -> R {
        let keys = options.keys.sorted()
        let previous = keys.map { key in CPLGetThreadLocalConfigOption(key, nil).map { String(cString: $0) } }
        for key in keys { CPLSetThreadLocalConfigOption(key, options[key]) }
        defer {
            for (key, old) in zip(keys, previous) { CPLSetThreadLocalConfigOption(key, old) }
        }
        return try body()
    }

    public static func get(_ key: String) -> String? {
        CPLGetConfigOption(key, nil).map { String(cString: $0) }
    }
}

/// Library-wide facts and one-time initialisation.
public enum GDAL {
    private static let registered: Bool = {
        GDALAllRegister()
        // Offline from the start: the one change of the driver list an offline process makes
        // happens here, before any other thread can reach GDAL through GDALKit, never while
        // another thread is in `GDALOpenEx` (see `NetworkPolicy`).
        NetworkPolicy.startOffline()
        return true
    }()

    /// Registers all drivers once. Every entry point of GDALKit calls this.
    @inline(__always)
    public static func ensureRegistered() { _ = registered }

    /// GDAL's release name, e.g. "3.6.2".
    public static var version: String {
        String(cString: GDALVersionInfo("RELEASE_NAME"))
    }

    /// The PROJ version GDAL runs with, e.g. "9.1.1".
    public static var projVersion: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        OSRGetPROJVersion(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether GDAL currently holds an error state on this thread (for tests: no call leaves one).
    public static var hasPendingError: Bool {
        CPLGetLastErrorType().rawValue != CE_None.rawValue || CPLGetLastErrorNo() != 0
    }

    /// Drops GDAL messages emitted outside any wrapped call (every wrapped call collects its own
    /// and reports them in its error), so a command's stderr holds only its own one-line errors.
    public static func silenceUncapturedMessages() {
        ensureRegistered()
        CPLSetErrorHandler(CPLQuietErrorHandler)
    }

    /// Sets the raster block cache size in bytes.
    public static func setCacheMax(bytes: Int) {
        GDALSetCacheMax64(GIntBig(bytes))
    }

    public static var cacheMax: Int { Int(GDALGetCacheMax64()) }
    public static var cacheUsed: Int { Int(GDALGetCacheUsed64()) }

    /// Whether a driver of that short name exists.
    public static func hasDriver(_ name: String) -> Bool {
        ensureRegistered()
        return GDALGetDriverByName(name) != nil
    }
}
