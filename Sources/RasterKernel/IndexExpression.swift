#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An arithmetic expression over named 0..1 indices, as a job states it:
/// `hazard * exposure * vulnerability * (1 - 0.5 * capacity)`.
///
/// Grammar (usual precedence, `^` binds tighter than unary minus and is right-associative, so
/// `-a^2` is `-(a^2)` and `a^b^c` is `a^(b^c)`):
///
///     expr    := term (('+' | '-') term)*
///     term    := unary (('*' | '/') unary)*
///     unary   := '-' unary | power
///     power   := primary ('^' unary)?
///     primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
///
/// Functions: `min(a, b, …)`, `max(a, b, …)` (two or more arguments), `sqrt(x)`, `clamp(x, lo, hi)`.
/// Names are letters, digits and `_`, starting with a letter or `_`.
public indirect enum IndexExpression: Sendable, Equatable, Hashable, CustomStringConvertible {
    case number(Double)
    case name(String)
    case negate(IndexExpression)
    case binary(BinaryOperator, IndexExpression, IndexExpression)
    case call(Function, [IndexExpression])

    public enum BinaryOperator: String, Sendable, Equatable, Hashable {
        case add = "+", subtract = "-", multiply = "*", divide = "/", power = "^"
    }

    public enum Function: String, Sendable, Equatable, Hashable, CaseIterable {
        case min, max, sqrt, clamp

        /// Accepted argument counts.
        var arity: ClosedRange<Int> {
            switch self {
            case .min, .max: return 2...64
            case .sqrt: return 1...1
            case .clamp: return 3...3
            }
        }
    }

    /// A syntax error at a character offset (0-based, in Unicode scalars) of the text.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public let offset: Int
        public let message: String
        public var description: String { "at character \(offset + 1): \(message)" }
    }

    /// Every name the expression reads, in order of first appearance, with the offset of that appearance.
    public var names: [String] { Array(IndexExpression.collectNames(self)) }

    private static func collectNames(_ e: IndexExpression) -> [String] {
        var seen: [String] = []
        func walk(_ e: IndexExpression) {
            switch e {
            case .number: break
            case .name(let n): if !seen.contains(n) { seen.append(n) }
            case .negate(let x): walk(x)
            case .binary(_, let a, let b): walk(a); walk(b)
            case .call(_, let args): args.forEach(walk)
            }
        }
        walk(e)
        return seen
    }

    public var description: String {
        switch self {
        case .number(let v): return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
        case .name(let n): return n
        case .negate(let x): return "-(\(x))"
        case .binary(let op, let a, let b): return "(\(a) \(op.rawValue) \(b))"
        case .call(let f, let args): return "\(f.rawValue)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }

    /// Parses `text`. Throws `SyntaxError` pointing at the offending character.
    public static func parse(_ text: String) throws -> IndexExpression {
        var parser = Parser(Array(text.unicodeScalars))
        let e = try parser.expression().expression
        parser.skipSpace()
        if parser.position < parser.chars.count {
            throw SyntaxError(offset: parser.position, message: "unexpected \"\(Character(parser.chars[parser.position]))\"; expected an operator or the end")
        }
        return e
    }

    /// Offsets of every occurrence of each name (for messages about unknown names).
    public static func nameOffsets(in text: String) -> [(name: String, offset: Int)] {
        var parser = Parser(Array(text.unicodeScalars))
        var result: [(String, Int)] = []
        while parser.position < parser.chars.count {
            let c = parser.chars[parser.position]
            if Parser.isNameStart(c) {
                let start = parser.position
                let name = parser.name()
                result.append((name, start))
            } else if Parser.isDigit(c) || c == "." {
                _ = try? parser.number()
                if parser.position == 0 { parser.position += 1 }
            } else {
                parser.position += 1
            }
        }
        return result
    }

    /// The value of an expression without names (folded as written, in Double), nil when it reads one.
    public var constantValue: Double? {
        switch self {
        case .number(let v): return v
        case .name: return nil
        case .negate(let x): return x.constantValue.map { -$0 }
        case .binary(let op, let a, let b):
            guard let x = a.constantValue, let y = b.constantValue else { return nil }
            switch op {
            case .add: return x + y
            case .subtract: return x - y
            case .multiply: return x * y
            case .divide: return x / y
            case .power: return pow(x, y)
            }
        case .call(let f, let args):
            let values = args.compactMap(\.constantValue)
            guard values.count == args.count else { return nil }
            switch f {
            case .min: return values.min()
            case .max: return values.max()
            case .sqrt: return values[0].squareRoot()
            case .clamp: return Swift.min(Swift.max(values[0], values[1]), values[2])
            }
        }
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        var position = 0
        /// Nesting depth of the parser, and height of the tree it builds (a chain `a + a + …` is
        /// as high as it is long), both bounded so a hostile expression cannot exhaust the stack
        /// here or in what walks the tree (the compiler, hashing, freeing it).
        var depth = 0
        static let maxDepth = 200

        /// A subtree and its height.
        typealias Tree = (expression: IndexExpression, height: Int)

        /// `e` over subtrees of heights `children`, refused at `offset` past `maxDepth`.
        func tree(_ e: IndexExpression, over children: Int..., at offset: Int) throws -> Tree {
            let height = 1 + (children.max() ?? 0)
            if height > Parser.maxDepth {
                throw error("the expression nests deeper than \(Parser.maxDepth) levels (each operator or function applied to a result is one); split it into indices", at: offset)
            }
            return (e, height)
        }

        init(_ chars: [Unicode.Scalar]) { self.chars = chars }

        static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        static func isNameStart(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
        static func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || isDigit(c) }

        mutating func skipSpace() {
            while position < chars.count, chars[position] == " " || chars[position] == "\t" || chars[position] == "\n" || chars[position] == "\r" {
                position += 1
            }
        }

        func peek() -> Unicode.Scalar? { position < chars.count ? chars[position] : nil }

        func error(_ message: String, at offset: Int? = nil) -> SyntaxError {
            SyntaxError(offset: offset ?? position, message: message)
        }

        func describeHere() -> String {
            guard let c = peek() else { return "the end" }
            return "\"\(Character(c))\""
        }

        mutating func nest() throws {
            depth += 1
            if depth > Parser.maxDepth { throw error("the expression nests deeper than \(Parser.maxDepth) levels") }
        }

        mutating func expression() throws -> Tree {
            try nest(); defer { depth -= 1 }
            var left = try term()
            while true {
                skipSpace()
                guard let c = peek(), c == "+" || c == "-" else { return left }
                let at = position
                position += 1
                let right = try term()
                left = try tree(.binary(c == "+" ? .add : .subtract, left.expression, right.expression), over: left.height, right.height, at: at)
            }
        }

        mutating func term() throws -> Tree {
            var left = try unary()
            while true {
                skipSpace()
                guard let c = peek(), c == "*" || c == "/" else { return left }
                let at = position
                position += 1
                let right = try unary()
                left = try tree(.binary(c == "*" ? .multiply : .divide, left.expression, right.expression), over: left.height, right.height, at: at)
            }
        }

        mutating func unary() throws -> Tree {
            try nest(); defer { depth -= 1 }
            skipSpace()
            if peek() == "-" {
                let at = position
                position += 1
                let operand = try unary()
                return try tree(.negate(operand.expression), over: operand.height, at: at)
            }
            if peek() == "+" {
                position += 1
                return try unary()
            }
            return try power()
        }

        mutating func power() throws -> Tree {
            let base = try primary()
            skipSpace()
            if peek() == "^" {
                let at = position
                position += 1
                let exponent = try unary()
                return try tree(.binary(.power, base.expression, exponent.expression), over: base.height, exponent.height, at: at)
            }
            return base
        }

        mutating func primary() throws -> Tree {
            skipSpace()
            guard let c = peek() else { throw error("unexpected end of the expression; expected a number, a name or \"(\"") }
            if c == "(" {
                position += 1
                let inner = try expression()
                skipSpace()
                guard peek() == ")" else { throw error("expected \")\", found \(describeHere())") }
                position += 1
                return inner
            }
            if Parser.isDigit(c) || c == "." { return (.number(try number()), 1) }
            if Parser.isNameStart(c) {
                let start = position
                let n = name()
                skipSpace()
                if peek() == "(" {
                    guard let f = Function(rawValue: n) else {
                        let known = Function.allCases.map(\.rawValue).joined(separator: ", ")
                        throw error("unknown function \"\(n)\"; functions: \(known)", at: start)
                    }
                    position += 1
                    var args: [Tree] = []
                    skipSpace()
                    if peek() != ")" {
                        while true {
                            args.append(try expression())
                            skipSpace()
                            if peek() == "," { position += 1; continue }
                            guard peek() == ")" else { throw error("expected \",\" or \")\", found \(describeHere())") }
                            break
                        }
                    }
                    position += 1
                    guard f.arity.contains(args.count) else {
                        let want = f.arity.lowerBound == f.arity.upperBound ? "\(f.arity.lowerBound)" : "at least \(f.arity.lowerBound)"
                        throw error("\(n) takes \(want) argument\(f.arity.upperBound == 1 ? "" : "s"), got \(args.count)", at: start)
                    }
                    if f == .clamp, let lo = args[1].expression.constantValue, let hi = args[2].expression.constantValue, lo > hi {
                        throw error("clamp(x, lo, hi) needs lo ≤ hi, got lo \(IndexExpression.number(lo)) > hi \(IndexExpression.number(hi))", at: start)
                    }
                    return try tree(.call(f, args.map(\.expression)), over: args.map(\.height).max() ?? 0, at: start)
                }
                return (.name(n), 1)
            }
            throw error("unexpected \"\(Character(c))\"; expected a number, a name or \"(\"")
        }

        mutating func name() -> String {
            var s = ""
            while let c = peek(), Parser.isNameChar(c) { s.unicodeScalars.append(c); position += 1 }
            return s
        }

        mutating func number() throws -> Double {
            let start = position
            var s = ""
            while let c = peek(), Parser.isDigit(c) || c == "." { s.unicodeScalars.append(c); position += 1 }
            if let c = peek(), c == "e" || c == "E" {
                var t = "e"
                var p = position + 1
                if p < chars.count, chars[p] == "+" || chars[p] == "-" { t.unicodeScalars.append(chars[p]); p += 1 }
                var digits = 0
                while p < chars.count, Parser.isDigit(chars[p]) { t.unicodeScalars.append(chars[p]); p += 1; digits += 1 }
                if digits > 0 { s += t; position = p }
            }
            guard let v = Double(s), v.isFinite else { throw error("\"\(s)\" is not a number", at: start) }
            return v
        }
    }
}
