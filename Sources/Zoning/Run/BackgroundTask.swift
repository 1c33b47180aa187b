import Foundation
import GDALKit

/// Work of a stage that runs on its own thread while the stage goes on with work that does not
/// depend on it (the zones' COG beside their polygons, the print scale beside the majority filter).
/// The thread runs in the job's GDAL configuration (`gdal-config`, thread-local as on the workers).
/// `value()` waits for it; a stage calls it on every path (`defer`), so nothing outlives the stage.
final class BackgroundTask<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    // Written by the thread before `done` is signalled, read after waiting on it.
    private var result: Result<T, any Error>?

    init(gdalConfig: [String: String], _ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            result = ConfigOptions.withThreadLocalOptions(gdalConfig) { Result { try body() } }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The task's value once it has finished, or its error. May be called more than once.
    func value() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }

    /// Waits for the task, ignoring its outcome (a stage leaving on another error).
    func wait() { _ = try? value() }
}
