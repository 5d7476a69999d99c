/* The Fortran BLAS and LAPACK routines that `cace fit` calls (Sources/CACEFit/LAPACK.swift),
 * declared by hand: Debian's libopenblas-dev ships cblas.h but no lapacke.h. Column-major
 * storage, every argument by pointer, 32-bit integers (OpenBLAS's default LP64 interface),
 * character arguments as one char (the hidden length arguments are omitted, which the gfortran
 * ABI tolerates for length-1 strings). */
#ifndef CACE_LAPACK_H
#define CACE_LAPACK_H

/* C = alpha A^T A + beta C (trans = 'T') or alpha A A^T + beta C (trans = 'N'), one triangle */
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc);
/* y = alpha op(A) x + beta y */
void dgemv_(const char *trans, const int *m, const int *n, const double *alpha, const double *a,
            const int *lda, const double *x, const int *incx, const double *beta, double *y,
            const int *incy);
/* Householder QR: A = Q R */
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
/* C = Q^T C with Q from dgeqrf_ */
void dormqr_(const char *side, const char *trans, const int *m, const int *n, const int *k,
             const double *a, const int *lda, const double *tau, double *c, const int *ldc,
             double *work, const int *lwork, int *info);
/* triangular solve op(A) X = B */
void dtrtrs_(const char *uplo, const char *trans, const char *diag, const int *n, const int *nrhs,
             const double *a, const int *lda, double *b, const int *ldb, int *info);
/* Cholesky factorisation and solve of a symmetric positive-definite matrix */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
/* eigenvalues (jobz = 'N'), and eigenvectors (jobz = 'V'), of a symmetric matrix */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);

/* singular values (jobu = jobvt = 'N') of a general matrix */
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda,
             double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
             const int *lwork, int *info);

/* OpenBLAS's own thread count (the fit parallelises over structures itself) */
void openblas_set_num_threads(int num_threads);

#endif
