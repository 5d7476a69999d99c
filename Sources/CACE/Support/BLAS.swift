import COpenBLAS

/// Row-major matrix products through OpenBLAS's CBLAS, generic over the feature precision
/// (dgemm/dgemv for Double, sgemm/sgemv for Float; the type test folds away when specialised).
///
/// Our worker threads call these concurrently, so OpenBLAS must not start threads of its own:
/// Debian's libopenblas0 is the pthread build, whose gemm splits products above about 2.6e5
/// multiply-adds over all cores. The first call sets OpenBLAS to one thread for the whole
/// process (`openblas_set_num_threads` is process-wide: a host that uses the same library for
/// its own threaded products gets one thread too).
enum BLAS {
    /// Configures OpenBLAS once (a global's initialiser runs once, thread-safely): its kernels for
    /// this CPU (`OpenBLASKernels`), one thread.
    private static let singleThreaded: Void = {
        OpenBLASKernels.replaceGenericFallback()
        openblas_set_num_threads(1)
    }()

    /// Configures OpenBLAS now rather than at the first product (which may run in a worker thread);
    /// an evaluator calls it when it is made.
    static func prepare() { _ = singleThreaded }

    /// C[m][n] = A B^T + beta C (transposeB) or A B + beta C, row-major with leading dimensions.
    /// A is m x k; B is n x k (transposeB) or k x n.
    @inline(__always)
    static func gemm<T: FeatureScalar>(m: Int, n: Int, k: Int, _ a: UnsafePointer<T>, lda: Int,
                                       _ b: UnsafePointer<T>, ldb: Int, transposeB: Bool, beta: T,
                                       _ c: UnsafeMutablePointer<T>, ldc: Int) {
        _ = singleThreaded
        let tb = transposeB ? CblasTrans : CblasNoTrans
        let (mm, nn, kk) = (Int32(m), Int32(n), Int32(k))
        if T.self == Double.self {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, mm, nn, kk, 1, double(a), Int32(lda), double(b), Int32(ldb),
                        Double(beta), double(c), Int32(ldc))
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, mm, nn, kk, 1, float(a), Int32(lda), float(b), Int32(ldb),
                        Float(beta), float(c), Int32(ldc))
        }
    }

    /// y[m] = A x + beta y for a row-major m x n matrix A.
    @inline(__always)
    static func gemv<T: FeatureScalar>(m: Int, n: Int, _ a: UnsafePointer<T>, lda: Int, _ x: UnsafePointer<T>,
                                       beta: T, _ y: UnsafeMutablePointer<T>) {
        _ = singleThreaded
        if T.self == Double.self {
            cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, double(a), Int32(lda), double(x), 1,
                        Double(beta), double(y), 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), 1, float(a), Int32(lda), float(x), 1,
                        Float(beta), float(y), 1)
        }
    }

    /// A[m][n] += x y^T (x with stride incX), row-major.
    @inline(__always)
    static func ger<T: FeatureScalar>(m: Int, n: Int, _ x: UnsafePointer<T>, incX: Int, _ y: UnsafePointer<T>,
                                      _ a: UnsafeMutablePointer<T>, lda: Int) {
        _ = singleThreaded
        if T.self == Double.self {
            cblas_dger(CblasRowMajor, Int32(m), Int32(n), 1, double(x), Int32(incX), double(y), 1, double(a), Int32(lda))
        } else {
            cblas_sger(CblasRowMajor, Int32(m), Int32(n), 1, float(x), Int32(incX), float(y), 1, float(a), Int32(lda))
        }
    }

    @inline(__always) private static func double<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Double> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Double.self)
    }
    @inline(__always) private static func double<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Double> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self)
    }
    @inline(__always) private static func float<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }
    @inline(__always) private static func float<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }
}
