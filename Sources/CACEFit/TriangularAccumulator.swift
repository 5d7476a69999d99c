/// Householder QR of a tall matrix fed in batches of rows (TSQR): R (n x n) and the first n
/// entries of Q^T y are updated by a QR of [R ; batch], and the rest of Q^T y is kept only as
/// its squared norm (the least-squares residual), which never comes from a cancellation. The
/// Bayesian solver needs exactly these (BayesianPosterior(triangular:)), so it runs in
/// n^2 + one batch of memory, whatever the number of rows.
struct TriangularAccumulator: Sendable {
    let columns: Int
    /// R, n x n column-major (upper triangle; zero before the first batch).
    private(set) var r: [Double]
    /// The first n entries of Q^T y.
    private(set) var qty: [Double]
    /// |the rest of Q^T y|^2.
    private(set) var tail = 0.0
    /// Rows added (the observations).
    private(set) var rows = 0
    private var pending: [Double] = []        // row-major [row][n]
    private var pendingTargets: [Double] = []
    /// Rows gathered before a QR update: a few times n, so the update cost is that of one QR.
    private let batch: Int

    init(columns n: Int) {
        columns = n
        r = Array(repeating: 0, count: n * n)
        qty = Array(repeating: 0, count: n)
        batch = max(64, 2 * n)
    }

    /// Adds one row (n values) and its target.
    mutating func add(row: UnsafeBufferPointer<Double>, target: Double) throws(FitError) {
        pending.append(contentsOf: row)
        pendingTargets.append(target)
        rows += 1
        if pendingTargets.count >= batch { try flush() }
    }

    /// Adds another accumulator's rows (its R and Q^T y stand for them).
    mutating func merge(_ other: TriangularAccumulator) throws(FitError) {
        var o = other
        try o.flush()
        try flush()
        for i in 0..<columns {
            pending.append(contentsOf: (0..<columns).map { j in o.r[i + j * columns] })
            pendingTargets.append(o.qty[i])
        }
        tail += o.tail
        rows += o.rows
        try flush()
    }

    /// Folds the pending rows into R and Q^T y.
    mutating func flush() throws(FitError) {
        let p = pendingTargets.count, n = columns
        guard p > 0 else { return }
        let m = n + p
        var a = [Double](repeating: 0, count: m * n)
        for j in 0..<n {
            for i in 0...j { a[i + j * m] = r[i + j * n] }
            for k in 0..<p { a[n + k + j * m] = pending[k * n + j] }
        }
        let b = try LAPACK.householder(&a, m: m, n: n, y: qty + pendingTargets)
        for j in 0..<n { for i in 0...j { r[i + j * n] = a[i + j * m] } }
        qty = Array(b[0..<n])
        for k in n..<m { tail += b[k] * b[k] }
        pending.removeAll(keepingCapacity: true)
        pendingTargets.removeAll(keepingCapacity: true)
    }

    /// R and Q^T y of the columns `kept`, each multiplied by `scale`: the QR of
    /// R[:, kept] S (A[:, kept] S = Q R[:, kept] S), whose dropped part of Q^T y joins the tail.
    func restricted(to kept: [Int], scale: [Double]) throws(FitError) -> (r: [Double], qty: [Double], tail: Double) {
        let n = columns, k = kept.count
        guard k > 0, k <= n, pendingTargets.isEmpty else { throw .internal("TSQR: restricted to \(k) of \(n) columns with rows pending") }
        var a = [Double](repeating: 0, count: n * k)
        for (j, col) in kept.enumerated() { for i in 0..<n { a[i + j * n] = r[i + col * n] * scale[j] } }
        let b = try LAPACK.householder(&a, m: n, n: k, y: qty)
        var out = [Double](repeating: 0, count: k * k)
        for j in 0..<k { for i in 0...j { out[i + j * k] = a[i + j * n] } }
        var rest = tail
        for i in k..<n { rest += b[i] * b[i] }
        return (out, Array(b[0..<k]), rest)
    }
}
