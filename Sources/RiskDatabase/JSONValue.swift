import Foundation

/// A JSON value of a run's files read without a fixed schema (stats rows gain columns over time).
public enum JSONValue: Codable, Sendable, Equatable {
    case null, bool(Bool), integer(Int), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if decoder.userInfo[JSONValue.numbersAsReals] as? Bool != true, let i = try? c.decode(Int.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Decoded with this `userInfo` key set to true, every number is a `.number` (a Double). Encoded
    /// again, a value then prints as a typed `Double` field of the same JSON does (`-0`, `1e+16`),
    /// and an `Int` field the same as long as it is below 2^53.
    static let numbersAsReals = CodingUserInfoKey(rawValue: "JSONValue.numbersAsReals")!

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Numbers (integers and reals), not booleans.
    public var number: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }
    public var int: Int? {
        switch self {
        case .integer(let i): return i
        case .number(let d): return d == d.rounded() ? Int(d) : nil
        default: return nil
        }
    }
    public var string: String? {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        default: return nil
        }
    }
    public subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Parses JSON bytes (keys as written: the run files use snake_case).
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }
}
