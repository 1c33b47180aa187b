/// Analytic Hierarchy Process (Saaty): criterion weights from a pairwise comparison matrix, with
/// its consistency.
///
/// `a[i][j]` says how much more important criterion i is than criterion j (Saaty's 1…9 scale);
/// the matrix must be square, positive and reciprocal (`a[j][i] = 1 / a[i][j]`, so the diagonal
/// is 1). The weights are its principal (Perron) eigenvector normalised to sum 1, found by power
/// iteration; λmax is its eigenvalue, CI = (λmax − n) / (n − 1), CR = CI / RI with Saaty's random
/// index RI; CR = 0 when n ≤ 2. A CR above 0.1 is conventionally too inconsistent to use.
public struct AHP: Sendable, Equatable {
    /// One weight per criterion, in matrix order, summing to 1.
    public let weights: [Double]
    /// The principal eigenvalue (n for a perfectly consistent matrix).
    public let lambdaMax: Double
    /// CI = (λmax − n) / (n − 1); 0 when n = 1.
    public let consistencyIndex: Double
    /// Saaty's random index for n.
    public let randomIndex: Double
    /// CR = CI / RI; 0 when n ≤ 2.
    public let consistencyRatio: Double
    /// Power iterations it took to converge.
    public let iterations: Int

    /// Saaty's random consistency index for n = 1...15.
    public static let randomIndices: [Double] = [0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59]

    /// Power iteration stops when no weight moves by more than this.
    public static let convergence = 1e-12
    /// Power iteration gives up after this many steps.
    public static let maxIterations = 100_000

    /// A problem with a comparison matrix. Row and column numbers are zero-based.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case tooLarge(count: Int)
        case notSquare(row: Int, count: Int, expected: Int)
        case notPositive(row: Int, column: Int, value: Double)
        case notReciprocal(row: Int, column: Int, value: Double, transposed: Double)
        case didNotConverge(iterations: Int)

        public var description: String {
            switch self {
            case .empty: "the comparison matrix is empty"
            case .tooLarge(let n): "the comparison matrix has \(n) criteria; Saaty's random index is tabulated for at most \(AHP.randomIndices.count)"
            case .notSquare(let row, let count, let expected): "row \(row) of the comparison matrix has \(count) values, expected \(expected)"
            case .notPositive(let row, let column, let value): "comparison [\(row)][\(column)] = \(value) must be positive and finite"
            case .notReciprocal(let row, let column, let value, let transposed):
                row == column
                    ? "comparison [\(row)][\(row)] = \(value) must be 1"
                    : "comparison [\(row)][\(column)] = \(value) is not the reciprocal of [\(column)][\(row)] = \(transposed) (expected \(1 / transposed))"
            case .didNotConverge(let n): "the weights did not converge in \(n) iterations"
            }
        }
    }

    /// - Parameters:
    ///   - matrix: the pairwise comparisons, `matrix[i][j]` for row i, column j.
    ///   - reciprocalTolerance: how far `a[i][j] × a[j][i]` may be from 1 (relative), so that
    ///     decimals such as 0.333 for 1/3 pass; the matrix is used as given.
    /// - Throws: `AHP.Problem`, naming the first offending cell (row by row).
    public init(_ matrix: [[Double]], reciprocalTolerance: Double = 1e-2) throws(Problem) {
        precondition(reciprocalTolerance >= 0 && reciprocalTolerance < 1, "reciprocal tolerance must be in [0, 1)")
        let n = matrix.count
        guard n > 0 else { throw .empty }
        guard n <= AHP.randomIndices.count else { throw .tooLarge(count: n) }
        for (i, row) in matrix.enumerated() {
            guard row.count == n else { throw .notSquare(row: i, count: row.count, expected: n) }
            for (j, v) in row.enumerated() where !(v > 0 && v.isFinite) { throw .notPositive(row: i, column: j, value: v) }
        }
        for i in 0..<n {
            for j in i..<n where abs(matrix[i][j] * matrix[j][i] - 1) > reciprocalTolerance {
                throw .notReciprocal(row: j, column: i, value: matrix[j][i], transposed: matrix[i][j])
            }
        }

        // Power iteration from the uniform vector; a positive matrix has a unique positive
        // principal eigenvector and converges to it.
        var w = [Double](repeating: 1 / Double(n), count: n)
        var next = w
        var lambda = Double(n), steps = 0, converged = false
        while steps < AHP.maxIterations {
            steps += 1
            for i in 0..<n {
                var sum = 0.0
                for j in 0..<n { sum += matrix[i][j] * w[j] }
                next[i] = sum
            }
            // With Σ w = 1, Σ (A w) is the eigenvalue estimate.
            lambda = next.reduce(0, +)
            var change = 0.0
            for i in 0..<n {
                next[i] /= lambda
                change = max(change, abs(next[i] - w[i]))
            }
            swap(&w, &next)
            if change <= AHP.convergence { converged = true; break }
        }
        guard converged else { throw .didNotConverge(iterations: steps) }

        weights = w
        lambdaMax = lambda
        iterations = steps
        randomIndex = AHP.randomIndices[n - 1]
        consistencyIndex = n > 1 ? (lambda - Double(n)) / Double(n - 1) : 0
        consistencyRatio = n > 2 ? consistencyIndex / randomIndex : 0
    }
}
