/* The CBLAS interface of OpenBLAS (Debian: libopenblas-dev installs cblas.h in the multiarch
 * include directory), for the inference core's block read-out (Sources/CACE/Support/BLAS.swift).
 * cblas.h also declares openblas_set_num_threads, as cace_lapack.h does (the same prototype). */
#ifndef CACE_BLAS_H
#define CACE_BLAS_H
#include <cblas.h>
#endif
