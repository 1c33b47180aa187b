import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Per-unit partial sums of a pass, kept in a file of the run's work folder rather than in memory.
///
/// Sums are floating point: the run adds the units' sums in unit order, so that the totals do not
/// depend on which worker finished first. Units arrive in any order, and until the last has
/// arrived every unit's sums are needed; with 10⁴ weight scenarios that is units × 10⁴ sums (per
/// township, too), more than the memory budget on a large grid. Here they wait on disk (8 bytes a
/// sum, in an unlinked file of the work folder), and memory holds only where each unit's sums are.
final class UnitSums {
    private let path: String
    private let fd: Int32
    /// Per unit: where its sums start (in sums), how many, and the keys they belong to (the
    /// unit's townships, say), in the order the caller gave.
    private var units: [Int: (start: Int, count: Int, keys: [Int])] = [:]
    private var end = 0

    /// A new file at `path` (never one already there, never through a link), unlinked at once:
    /// it lives as long as this object, whatever ends the run.
    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw RunError(.cantCreate, "\(path): cannot create a temporary file: \(String(cString: strerror(errno)))")
        }
        unlink(path)
        self.path = path
    }

    deinit { close(fd) }

    /// Unit `unit`'s sums (for `keys`, when they belong to some).
    func append(unit: Int, keys: [Int] = [], _ values: [Double]) throws {
        try values.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(end * 8 + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw RunError(.ioError, "\(path): cannot write: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        units[unit] = (end, values.count, keys)
        end += values.count
    }

    /// Every unit's keys and sums, in unit order.
    func forEachInUnitOrder(_ body: (_ keys: [Int], _ values: [Double]) -> Void) throws {
        var values: [Double] = []
        for unit in units.keys.sorted() {
            let (start, count, keys) = units[unit]!
            values = [Double](repeating: 0, count: count)
            try values.withUnsafeMutableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pread(fd, raw.baseAddress! + done, raw.count - done, off_t(start * 8 + done))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw RunError(.ioError, "\(path): cannot read back: \(n < 0 ? String(cString: strerror(errno)) : "the file is shorter than written")") }
                    done += n
                }
            }
            body(keys, values)
        }
    }
}
