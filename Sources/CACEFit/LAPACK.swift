import COpenBLAS

/// Thin wrappers of the OpenBLAS BLAS/LAPACK routines the fit uses. Matrices are column-major,
/// as LAPACK wants them: element (r, c) of an m x n matrix is at r + c m.
enum LAPACK {
    /// OpenBLAS threads: the fit's own parallel loops run over structures; the factorisations
    /// are small (F x F) next to the feature computation.
    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    static func int32(_ n: Int, _ what: String) throws(FitError) -> Int32 {
        guard n >= 0, n <= Int(Int32.max) else { throw .numerical("\(what) = \(n) is too large for LAPACK's 32-bit indices") }
        return Int32(n)
    }

    /// g += a^T a (upper triangle of the n x n matrix g), for an m x n matrix a.
    static func addGram(_ g: inout [Double], n: Int, a: [Double], m: Int) throws(FitError) {
        guard m > 0, n > 0 else { return }
        var nn = try int32(n, "columns"), mm = try int32(m, "rows")
        var one = 1.0
        var uplo = CChar(UInt8(ascii: "U")), trans = CChar(UInt8(ascii: "T"))
        a.withUnsafeBufferPointer { ap in
            g.withUnsafeMutableBufferPointer { gp in
                dsyrk_(&uplo, &trans, &nn, &mm, &one, ap.baseAddress, &mm, &one, gp.baseAddress, &nn)
            }
        }
    }

    /// h += a^T y for an m x n matrix a.
    static func addTransposedProduct(_ h: inout [Double], n: Int, a: [Double], m: Int, y: [Double]) throws(FitError) {
        guard m > 0, n > 0 else { return }
        var nn = try int32(n, "columns"), mm = try int32(m, "rows")
        var one = 1.0, inc: Int32 = 1
        var trans = CChar(UInt8(ascii: "T"))
        a.withUnsafeBufferPointer { ap in
            y.withUnsafeBufferPointer { yp in
                h.withUnsafeMutableBufferPointer { hp in
                    dgemv_(&trans, &mm, &nn, &one, ap.baseAddress, &mm, yp.baseAddress, &inc, &one, hp.baseAddress, &inc)
                }
            }
        }
    }

    /// Solves the symmetric positive-definite system g x = h (upper triangle of g used) by
    /// Cholesky. Returns nil if g is not positive definite to working precision.
    static func choleskySolve(_ g: [Double], _ h: [Double], n: Int) throws(FitError) -> [Double]? {
        var a = g, b = h
        var nn = try int32(n, "columns"), nrhs: Int32 = 1, info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "U"))
        a.withUnsafeMutableBufferPointer { ap in dpotrf_(&uplo, &nn, ap.baseAddress, &nn, &info) }
        if info > 0 { return nil }
        guard info == 0 else { throw .internal("dpotrf_ argument \(-info) is invalid") }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in dpotrs_(&uplo, &nn, &nrhs, ap.baseAddress, &nn, bp.baseAddress, &nn, &info) }
        }
        guard info == 0 else { throw .internal("dpotrs_ failed (info \(info))") }
        return b
    }

    /// Least squares min |a x - y| for an m x n matrix a of full column rank (m >= n), by
    /// Householder QR (dgeqrf, dormqr, dtrtrs). Returns the solution and the diagonal of R
    /// (nil solution if R is singular: a zero on its diagonal).
    static func qrSolve(_ a: inout [Double], m: Int, n: Int, y: [Double]) throws(FitError) -> (x: [Double]?, rDiagonal: [Double]) {
        guard m >= n else { throw .numerical("the system has \(m) rows for \(n) unknowns: too few observations (add data or use --lambda > 0)") }
        var b = try householder(&a, m: m, n: n, y: y)
        var mm = try int32(m, "rows"), nn = try int32(n, "columns"), info: Int32 = 0, one: Int32 = 1
        let diagonal = (0..<n).map { a[$0 + $0 * m] }
        if diagonal.contains(where: { $0 == 0 || !$0.isFinite }) { return (nil, diagonal) }
        var uplo = CChar(UInt8(ascii: "U")), notrans = CChar(UInt8(ascii: "N")), nonunit = CChar(UInt8(ascii: "N"))
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                dtrtrs_(&uplo, &notrans, &nonunit, &nn, &one, ap.baseAddress, &mm, bp.baseAddress, &mm, &info)
            }
        }
        if info > 0 { return (nil, diagonal) }
        guard info == 0 else { throw .internal("dtrtrs_ failed (info \(info))") }
        return (Array(b[0..<n]), diagonal)
    }

    /// Eigenvalues of the symmetric n x n matrix g (upper triangle used), ascending.
    static func symmetricEigenvalues(_ g: [Double], n: Int) throws(FitError) -> [Double] {
        var a = g
        var nn = try int32(n, "columns"), info: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var jobz = CChar(UInt8(ascii: "N")), uplo = CChar(UInt8(ascii: "U"))
        var query = 0.0, lwork: Int32 = -1
        a.withUnsafeMutableBufferPointer { ap in dsyev_(&jobz, &uplo, &nn, ap.baseAddress, &nn, &w, &query, &lwork, &info) }
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        a.withUnsafeMutableBufferPointer { ap in dsyev_(&jobz, &uplo, &nn, ap.baseAddress, &nn, &w, &work, &lwork, &info) }
        guard info == 0 else { throw .numerical("the eigenvalue solver (dsyev_) did not converge (info \(info))") }
        return w
    }
}

extension LAPACK {
    /// Singular values of the m x n matrix a, descending.
    static func singularValues(_ a: [Double], m: Int, n: Int) throws(FitError) -> [Double] {
        var copy = a
        var mm = try int32(m, "rows"), nn = try int32(n, "columns"), info: Int32 = 0, one: Int32 = 1
        var s = [Double](repeating: 0, count: min(m, n))
        var job = CChar(UInt8(ascii: "N"))
        var u = 0.0, vt = 0.0, query = 0.0, lwork: Int32 = -1
        copy.withUnsafeMutableBufferPointer { ap in
            dgesvd_(&job, &job, &mm, &nn, ap.baseAddress, &mm, &s, &u, &one, &vt, &one, &query, &lwork, &info)
        }
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        copy.withUnsafeMutableBufferPointer { ap in
            dgesvd_(&job, &job, &mm, &nn, ap.baseAddress, &mm, &s, &u, &one, &vt, &one, &work, &lwork, &info)
        }
        guard info == 0 else { throw .numerical("the singular value decomposition (dgesvd_) did not converge (info \(info))") }
        return s
    }
}

extension LAPACK {
    /// Eigenvalues (ascending) and orthonormal eigenvectors (columns of the n x n result) of the
    /// symmetric matrix g (upper triangle used).
    static func symmetricEigensystem(_ g: [Double], n: Int) throws(FitError) -> (values: [Double], vectors: [Double]) {
        var a = g
        var nn = try int32(n, "columns"), info: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        var query = 0.0, lwork: Int32 = -1
        a.withUnsafeMutableBufferPointer { ap in dsyev_(&jobz, &uplo, &nn, ap.baseAddress, &nn, &w, &query, &lwork, &info) }
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        a.withUnsafeMutableBufferPointer { ap in dsyev_(&jobz, &uplo, &nn, ap.baseAddress, &nn, &w, &work, &lwork, &info) }
        guard info == 0 else { throw .numerical("the eigenvalue solver (dsyev_) did not converge (info \(info))") }
        return (w, a)
    }

    /// Solves g X = B for `nrhs` right-hand sides (columns of b, n x nrhs) with g symmetric
    /// positive definite (upper triangle used). Nil if g is not positive definite.
    static func choleskySolve(_ g: [Double], columns b: [Double], n: Int, nrhs: Int) throws(FitError) -> [Double]? {
        guard nrhs > 0 else { return [] }
        var a = g, x = b
        var nn = try int32(n, "columns"), rhs = try int32(nrhs, "right-hand sides"), info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "U"))
        a.withUnsafeMutableBufferPointer { ap in dpotrf_(&uplo, &nn, ap.baseAddress, &nn, &info) }
        if info > 0 { return nil }
        guard info == 0 else { throw .internal("dpotrf_ argument \(-info) is invalid") }
        a.withUnsafeBufferPointer { ap in
            x.withUnsafeMutableBufferPointer { xp in dpotrs_(&uplo, &nn, &rhs, ap.baseAddress, &nn, xp.baseAddress, &nn, &info) }
        }
        guard info == 0 else { throw .internal("dpotrs_ failed (info \(info))") }
        return x
    }
}

extension LAPACK {
    /// Householder QR of the m x n matrix a (m >= n): the upper-triangular R (n x n,
    /// column-major) and Q^T y (m values; its last m - n entries are the residual's components).
    static func qrFactor(_ a: [Double], m: Int, n: Int, y: [Double]) throws(FitError) -> (r: [Double], qty: [Double]) {
        guard m >= n, n > 0 else { throw .numerical("\(m) observations for \(n) unknowns: too few (add frames)") }
        var f = a
        let b = try householder(&f, m: m, n: n, y: y)
        var r = [Double](repeating: 0, count: n * n)
        for c in 0..<n { for i in 0...c { r[i + c * n] = f[i + c * m] } }
        return (r, b)
    }

    /// The singular value decomposition a = U diag(s) V^T of a square n x n matrix: s descending,
    /// U and V^T column-major n x n.
    static func svd(_ a: [Double], n: Int) throws(FitError) -> (s: [Double], u: [Double], vt: [Double]) {
        var copy = a
        var nn = try int32(n, "columns"), info: Int32 = 0
        var s = [Double](repeating: 0, count: n), u = [Double](repeating: 0, count: n * n), vt = [Double](repeating: 0, count: n * n)
        var job = CChar(UInt8(ascii: "A"))
        var query = 0.0, lwork: Int32 = -1
        copy.withUnsafeMutableBufferPointer { ap in
            dgesvd_(&job, &job, &nn, &nn, ap.baseAddress, &nn, &s, &u, &nn, &vt, &nn, &query, &lwork, &info)
        }
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        copy.withUnsafeMutableBufferPointer { ap in
            dgesvd_(&job, &job, &nn, &nn, ap.baseAddress, &nn, &s, &u, &nn, &vt, &nn, &work, &lwork, &info)
        }
        guard info == 0 else { throw .numerical("the singular value decomposition (dgesvd_) did not converge (info \(info))") }
        return (s, u, vt)
    }

    /// Solves the upper-triangular system r X = b (r n x n, b n x nrhs, column-major); nil if r is singular.
    static func triangularSolve(_ r: [Double], columns b: [Double], n: Int, nrhs: Int) throws(FitError) -> [Double]? {
        guard n > 0, nrhs > 0 else { return b }
        var x = b
        var nn = try int32(n, "columns"), rhs = try int32(nrhs, "right-hand sides"), info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "U")), notrans = CChar(UInt8(ascii: "N")), nonunit = CChar(UInt8(ascii: "N"))
        r.withUnsafeBufferPointer { rp in
            x.withUnsafeMutableBufferPointer { xp in
                dtrtrs_(&uplo, &notrans, &nonunit, &nn, &rhs, rp.baseAddress, &nn, xp.baseAddress, &nn, &info)
            }
        }
        if info > 0 { return nil }
        guard info == 0 else { throw .internal("dtrtrs_ failed (info \(info))") }
        return x
    }
}

extension LAPACK {
    /// Householder QR in place (dgeqrf: R in the upper triangle of a, m >= n) and Q^T y (dormqr).
    static func householder(_ a: inout [Double], m: Int, n: Int, y: [Double]) throws(FitError) -> [Double] {
        var mm = try int32(m, "rows"), nn = try int32(n, "columns"), info: Int32 = 0
        var tau = [Double](repeating: 0, count: n)
        var query = 0.0, lwork: Int32 = -1
        a.withUnsafeMutableBufferPointer { ap in dgeqrf_(&mm, &nn, ap.baseAddress, &mm, &tau, &query, &lwork, &info) }
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        a.withUnsafeMutableBufferPointer { ap in dgeqrf_(&mm, &nn, ap.baseAddress, &mm, &tau, &work, &lwork, &info) }
        guard info == 0 else { throw .internal("dgeqrf_ failed (info \(info))") }
        var b = y
        var side = CChar(UInt8(ascii: "L")), trans = CChar(UInt8(ascii: "T")), one: Int32 = 1
        lwork = -1
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                dormqr_(&side, &trans, &mm, &one, &nn, ap.baseAddress, &mm, &tau, bp.baseAddress, &mm, &query, &lwork, &info)
            }
        }
        lwork = Int32(max(1, Int(query)))
        work = [Double](repeating: 0, count: Int(lwork))
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                dormqr_(&side, &trans, &mm, &one, &nn, ap.baseAddress, &mm, &tau, bp.baseAddress, &mm, &work, &lwork, &info)
            }
        }
        guard info == 0 else { throw .internal("dormqr_ failed (info \(info))") }
        return b
    }
}
