/// A failure of the risk database: one message naming the file and the problem, and its category
/// as the command-line tool's exit status (sysexits.h; Zoning's `Operations.describe` maps it to
/// its `ExitStatus`, whose raw values these are).
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public enum Status: Int32, Sendable {
        case usage = 64, dataError = 65, noInput = 66, cantCreate = 73, ioError = 74
    }
    public let status: Status
    public let message: String
    public init(_ status: Status, _ message: String) { self.status = status; self.message = message }
    public var description: String { message }
}
