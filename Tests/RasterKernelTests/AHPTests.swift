import Testing
@testable import RasterKernel

/// A random reciprocal comparison matrix on Saaty's scale (1/9 … 9).
func saatyMatrix(_ n: Int, seed: UInt64) -> [[Double]] {
    var rng = OracleRandom(seed: seed)
    var a = [[Double]](repeating: [Double](repeating: 1, count: n), count: n)
    for i in 0..<n {
        for j in (i + 1)..<n {
            let v = Double(1 + rng.below(9))
            a[i][j] = rng.below(2) == 0 ? v : 1 / v
            a[j][i] = 1 / a[i][j]
        }
    }
    return a
}

@Suite struct AHPTests {
    /// Saaty's classic three-criterion example: weights 0.637, 0.258, 0.105; λmax 3.039; CR 0.033.
    @Test func textbookExample() throws {
        let ahp = try AHP([[1, 3, 5], [1.0 / 3, 1, 3], [1.0 / 5, 1.0 / 3, 1]])
        #expect(ahp.weights.map { ($0 * 1000).rounded() / 1000 } == [0.637, 0.258, 0.105])
        #expect(abs(ahp.lambdaMax - 3.0385) < 1e-4)
        #expect(abs(ahp.consistencyIndex - 0.0193) < 1e-4)
        #expect(ahp.randomIndex == 0.58)
        #expect(abs(ahp.consistencyRatio - 0.0332) < 1e-4)
        #expect(abs(ahp.weights.reduce(0, +) - 1) < 1e-12)
    }

    /// A perfectly consistent matrix a[i][j] = w[i] / w[j] gives back w, λmax = n, CR = 0.
    @Test func consistentMatrixGivesItsWeights() throws {
        let w = [0.45, 0.25, 0.2, 0.1]
        let ahp = try AHP(w.map { wi in w.map { wi / $0 } })
        for (a, b) in zip(ahp.weights, w) { #expect(abs(a - b) < 1e-12) }
        #expect(abs(ahp.lambdaMax - 4) < 1e-12)
        #expect(abs(ahp.consistencyRatio) < 1e-12)
        #expect(ahp.randomIndex == 0.90)
    }

    @Test func smallMatrices() throws {
        let one = try AHP([[1]])
        #expect(one.weights == [1] && one.lambdaMax == 1 && one.consistencyIndex == 0 && one.consistencyRatio == 0)
        let two = try AHP([[1, 3], [1.0 / 3, 1]])
        #expect(abs(two.weights[0] - 0.75) < 1e-12 && abs(two.weights[1] - 0.25) < 1e-12)
        #expect(two.consistencyRatio == 0)
        // Three-digit decimals pass as reciprocals.
        #expect(try AHP([[1, 3, 7], [0.333, 1, 5], [0.143, 0.2, 1]]).weights.count == 3)
    }

    @Test func problemsNameTheCell() {
        #expect(throws: AHP.Problem.empty) { try AHP([]) }
        #expect(throws: AHP.Problem.notSquare(row: 1, count: 1, expected: 2)) { try AHP([[1, 2], [0.5]]) }
        #expect(throws: AHP.Problem.notPositive(row: 0, column: 1, value: -2)) { try AHP([[1, -2], [0.5, 1]]) }
        #expect(throws: AHP.Problem.notPositive(row: 1, column: 0, value: .infinity)) { try AHP([[1, 2], [.infinity, 1]]) }
        #expect(throws: AHP.Problem.notReciprocal(row: 2, column: 0, value: 0.25, transposed: 5)) {
            try AHP([[1, 3, 5], [1.0 / 3, 1, 3], [0.25, 1.0 / 3, 1]])
        }
        #expect(throws: AHP.Problem.notReciprocal(row: 1, column: 1, value: 2, transposed: 2)) { try AHP([[1, 2], [0.5, 2]]) }
        #expect(throws: AHP.Problem.tooLarge(count: 16)) { try AHP(saatyMatrix(16, seed: 1)) }
        #expect(AHP.Problem.notReciprocal(row: 2, column: 0, value: 0.25, transposed: 5).description
            == "comparison [2][0] = 0.25 is not the reciprocal of [0][2] = 5.0 (expected 0.2)")
    }

    /// Against numpy.linalg.eig: the eigenvector of the largest eigenvalue, normalised to sum 1.
    @Test func matchesNumpyEig() throws {
        let script = """
            import sys, numpy as np
            for line in open(sys.argv[1]):
                values = [float(x) for x in line.split()]
                n = int(round(len(values) ** 0.5))
                eigenvalues, vectors = np.linalg.eig(np.array(values).reshape(n, n))
                i = int(np.argmax(eigenvalues.real))
                w = vectors[:, i].real
                w = w / w.sum()
                print(repr(float(eigenvalues[i].real)), *[repr(float(x)) for x in w])
            """
        var matrices: [[[Double]]] = []
        for n in 1...15 {
            for s in 0..<3 { matrices.append(saatyMatrix(n, seed: UInt64(n * 10 + s))) }
        }
        let output = try PythonOracle.withTemporaryFile(lines: matrices.map { $0.joined().map(\.description).joined(separator: " ") }) {
            try PythonOracle.run(script, arguments: [$0])
        }
        let lines = output.split(separator: "\n")
        #expect(lines.count == matrices.count)
        for (matrix, line) in zip(matrices, lines) {
            let reference = try PythonOracle.numbers(line)
            let ahp = try AHP(matrix)
            let n = Double(matrix.count)
            let ci = matrix.count > 1 ? (reference[0] - n) / (n - 1) : 0
            #expect(abs(ahp.lambdaMax - reference[0]) < 1e-9, "n \(matrix.count): λmax \(ahp.lambdaMax), numpy \(reference[0])")
            #expect(abs(ahp.consistencyIndex - ci) < 1e-9)
            #expect(zip(ahp.weights, reference.dropFirst()).allSatisfy { abs($0 - $1) < 1e-9 },
                    "n \(matrix.count): weights \(ahp.weights), numpy \(Array(reference.dropFirst()))")
        }
    }
}
