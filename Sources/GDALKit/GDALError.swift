import CGDAL

/// One error reported by GDAL through `CPLError`, with its class and number as GDAL gives them.
public struct CPLErrorRecord: Sendable, Equatable, CustomStringConvertible {
    public enum Class: Int32, Sendable {
        case none = 0, debug = 1, warning = 2, failure = 3, fatal = 4
    }
    public let errorClass: Class
    /// GDAL's error number (`CPLE_*`), e.g. 4 = `CPLE_OpenFailed`.
    public let number: Int32
    public let message: String

    public var description: String { "GDAL error \(number) (\(errorClass)): \(message)" }
}

/// The one error type of GDALKit: every failing GDAL call surfaces as one of these.
public enum GDALError: Error, Sendable, CustomStringConvertible {
    /// A GDAL call failed. `records` is the chain of errors GDAL emitted during that call, in order
    /// (the last is the decisive one); `function` names the C function.
    case cpl(function: String, records: [CPLErrorRecord])
    /// A GDAL call returned NULL (or a failure code) without emitting an error.
    case nullPointer(function: String)
    /// A precondition of the wrapper itself (wrong band index, wrong buffer size...).
    case invalidArgument(String)

    /// The decisive (last failure) record, if any.
    public var last: CPLErrorRecord? {
        if case .cpl(_, let records) = self {
            return records.last(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue })
                ?? records.last
        }
        return nil
    }

    /// GDAL's error number of the decisive record (`CPLE_*`), or nil.
    public var number: Int32? { last?.number }

    public var message: String {
        switch self {
        case .cpl(let function, let records):
            let failures = records.filter { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }
            let shown = failures.isEmpty ? records : failures
            let text = shown.map(\.message).joined(separator: "; ")
            return text.isEmpty ? "\(function) failed" : text
        case .nullPointer(let function):
            return "\(function) failed without a GDAL error message"
        case .invalidArgument(let text):
            return text
        }
    }

    public var description: String {
        switch self {
        case .cpl(let function, _):
            let number = self.number.map { " \($0)" } ?? ""
            return "\(function): GDAL error\(number): \(message)"
        default:
            return message
        }
    }
}

/// `CPLE_*` numbers used by callers to classify failures (never match on message text).
public enum CPLErrorNumber {
    public static let appDefined: Int32 = 1
    public static let outOfMemory: Int32 = 2
    public static let fileIO: Int32 = 3
    public static let openFailed: Int32 = 4
    public static let illegalArg: Int32 = 5
    public static let notSupported: Int32 = 6
    public static let assertionFailed: Int32 = 7
    public static let noWriteAccess: Int32 = 8
    public static let userInterrupt: Int32 = 9
    public static let objectNull: Int32 = 10
    public static let httpResponse: Int32 = 11
}

/// Collects the errors GDAL emits on this thread while a closure runs, instead of letting GDAL
/// print them. `CPLPushErrorHandlerEx` is per thread, so this is safe on worker threads.
final class ErrorCollector {
    var records: [CPLErrorRecord] = []
}

private let collectingHandler: CPLErrorHandler = { errorClass, number, message in
    guard let user = CPLGetErrorHandlerUserData() else { return }
    let collector = Unmanaged<ErrorCollector>.fromOpaque(user).takeUnretainedValue()
    let cls = CPLErrorRecord.Class(rawValue: Int32(errorClass.rawValue)) ?? .failure
    if cls == .debug { return }
    collector.records.append(CPLErrorRecord(
        errorClass: cls, number: Int32(number), message: message.map { String(cString: $0) } ?? ""))
}

/// Runs `body` with GDAL's errors captured. Returns the body's result and the records emitted.
/// GDAL's error state is reset before and after, so no error state is left behind.
@inline(__always)
func capturingErrors<T>(_ body: () throws -> T) rethrows -> (T, [CPLErrorRecord]) {
    let collector = ErrorCollector()
    let unmanaged = Unmanaged.passRetained(collector)
    CPLErrorReset()
    CPLPushErrorHandlerEx(collectingHandler, unmanaged.toOpaque())
    defer {
        CPLPopErrorHandler()
        CPLErrorReset()
        unmanaged.release()
    }
    let value = try body()
    return (value, collector.records)
}

/// Calls a GDAL function returning a pointer; throws the captured chain when it returns NULL.
@inline(__always)
func gdalCall<T>(_ function: String = #function, _ body: () -> T?) throws -> T {
    let (value, records) = capturingErrors(body)
    guard let value else {
        if records.isEmpty { throw GDALError.nullPointer(function: function) }
        throw GDALError.cpl(function: function, records: records)
    }
    return value
}

/// Calls a GDAL function returning `CPLErr`/`OGRErr`-like status; throws when it is not success
/// or when the call emitted a failure-class error.
@inline(__always)
func gdalCheck(_ function: String = #function, _ body: () -> CPLErr) throws {
    let (status, records) = capturingErrors(body)
    let failed = records.contains { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }
    if status.rawValue >= CE_Failure.rawValue || failed {
        if records.isEmpty { throw GDALError.nullPointer(function: function) }
        throw GDALError.cpl(function: function, records: records)
    }
}

/// Runs a void GDAL call and throws if it emitted any failure-class error.
@inline(__always)
func gdalVoid(_ function: String = #function, _ body: () -> Void) throws {
    let (_, records) = capturingErrors(body)
    if records.contains(where: { $0.errorClass.rawValue >= CPLErrorRecord.Class.failure.rawValue }) {
        throw GDALError.cpl(function: function, records: records)
    }
}

/// Runs a GDAL call returning `OGRErr` (0 = none) and throws on failure.
@inline(__always)
func ogrCheck(_ function: String = #function, _ body: () -> OGRErr) throws {
    let (status, records) = capturingErrors(body)
    if status != OGRERR_NONE {
        if records.isEmpty {
            throw GDALError.cpl(function: function, records: [CPLErrorRecord(
                errorClass: .failure, number: CPLErrorNumber.appDefined, message: "OGR error \(status)")])
        }
        throw GDALError.cpl(function: function, records: records)
    }
}
