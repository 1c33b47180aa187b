import Foundation
import FilePaths
#if canImport(Glibc)
import Glibc
#endif
import GDALKit
import Logging

// Each input warped once per run. Every pass over the grid (the statistics passes, the main pass,
// totals, attribution, sensitivity, a census package) reads the aligned layers block by block; a
// warped, burnt or window-read layer would be resampled again by every pass. Its values as the
// first pass read them (before the layer's transform) are kept in a raw file of the run's work
// folder, a unit's values contiguous, and later passes read them back with one `pread`: the bytes
// are the ones the first read produced, so the products are identical whichever pass warped them.
//
// The file is unlinked as soon as it is open: it takes no name in the work folder, and its space
// returns when the run ends, is killed or fails. It lives in the page cache while the machine has
// memory for it (it is not part of the process's resident set) and on disk otherwise.

/// The units of one aligned layer already read, by window.
final class LayerBlockCache: @unchecked Sendable {
    private struct Key: Hashable { let x, y, width, height: Int }
    private let fd: Int32
    // Guarded by `lock`.
    private let lock = NSLock()
    private var offsets: [Key: Int] = [:]
    private var end = 0
    private var failed = false
    /// Units read back from the cache, and units kept in it (each read from the source once).
    private(set) var loaded = 0, stored = 0

    /// A cache file in `folder`, or nil when it cannot be made (the layer is then read as before).
    init?(folder: String, name: String) {
        let path = folder.appendingComponent(".\(name)-\(UUID().uuidString).blocks")
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        unlink(path)
        self.fd = fd
    }

    deinit { close(fd) }

    /// The window's values into `buffer` when a pass read them before; false otherwise.
    func load<T>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>) -> Bool {
        lock.lock()
        let offset = offsets[Key(x: window.x, y: window.y, width: window.width, height: window.height)]
        lock.unlock()
        guard let offset, transfer(read: true, UnsafeMutableRawBufferPointer(buffer), at: offset) else { return false }
        lock.lock(); loaded += 1; lock.unlock()
        return true
    }

    /// Keeps the window's values (as read from the source, before any transform). A write that
    /// fails (a full disk) only stops caching: later passes read the source again.
    func store<T>(_ window: PixelWindow, from buffer: UnsafeMutableBufferPointer<T>) {
        let key = Key(x: window.x, y: window.y, width: window.width, height: window.height)
        let bytes = buffer.count * MemoryLayout<T>.stride
        lock.lock()
        guard !failed, offsets[key] == nil else { lock.unlock(); return }
        let offset = end
        end += bytes
        lock.unlock()
        let ok = transfer(read: false, UnsafeMutableRawBufferPointer(buffer), at: offset)
        lock.lock()
        if ok { offsets[key] = offset; stored += 1 } else { failed = true }
        lock.unlock()
    }

    /// The window's values into `buffer`: read back when a pass read them before, else by `read`
    /// (from the source) and kept.
    func readThrough<T>(_ window: PixelWindow, into buffer: UnsafeMutableBufferPointer<T>, _ read: () throws -> Void) rethrows {
        if load(window, into: buffer) { return }
        try read()
        store(window, from: buffer)
    }

    /// `pread`/`pwrite` of the whole buffer at `offset`, retried on short transfers and EINTR.
    private func transfer(read: Bool, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < buffer.count {
            let p = buffer.baseAddress! + done
            let n = read ? pread(fd, p, buffer.count - done, off_t(offset + done))
                         : pwrite(fd, p, buffer.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

extension RunScoped {
    /// Whether the work folder's file system has room for `layers` more cached layers of `bytes`
    /// per pixel: at most half its free space (else the layers are read again by every pass).
    func roomForCaches(layers: Int, bytesPerPixel bytes: Int, work: String) -> Bool {
        let need = layers * plan.grid.pixelCount * bytes
        var st = statvfs()
        guard layers > 0, statvfs(work, &st) == 0 else { return false }
        let free = Int(st.f_bavail) * Int(st.f_frsize)
        if need > free / 2 {
            logger.info("not caching aligned layers: the work folder's file system has too little free space",
                        metadata: ["need_mib": "\(need >> 20)", "free_mib": "\(free >> 20)"])
            return false
        }
        return true
    }

    /// Attaches a block cache to every aligned layer a second pass would read again at a cost
    /// (warped, window-read, burnt; not the run's own rasters of the grid, nor the distances of a
    /// proximity layer, already an uncompressed tiled raster of the grid).
    func cachingBlocks(_ layers: [AlignedLayer], work: String, names: [String]) -> [AlignedLayer] {
        let worth = layers.indices.filter { ![.grid, .proximity].contains(layers[$0].alignment) }
        guard roomForCaches(layers: worth.count, bytesPerPixel: MemoryLayout<Float>.size, work: work) else { return layers }
        var cached = layers
        for i in worth { cached[i].cache = LayerBlockCache(folder: work, name: names[i]) }
        return cached
    }
}
