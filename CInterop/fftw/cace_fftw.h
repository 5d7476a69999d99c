/* FFTW3's double-precision interface, for the serial mesh transform (Sources/CACEFFTW). */
#ifndef CACE_FFTW_H
#define CACE_FFTW_H
#include <fftw3.h>
#endif
