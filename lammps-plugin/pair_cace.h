/* -*- c++ -*- ----------------------------------------------------------
   pair_style cace: Cartesian atomic cluster expansion (CACE) machine-learning potentials,
   evaluated by the Swift library libcace_capi.so through its C ABI (cace.h).
------------------------------------------------------------------------- */

#ifdef PAIR_CLASS
// clang-format off
PairStyle(cace,PairCACE);
// clang-format on
#else

#ifndef LMP_PAIR_CACE_H
#define LMP_PAIR_CACE_H

#include "pair.h"

#include <vector>

struct cace_model;    // opaque handle of the Swift library (PIMPL: no library types here)

namespace LAMMPS_NS {

class PairCACE : public Pair {
 public:
  PairCACE(class LAMMPS *);
  ~PairCACE() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  // called from the library's host callbacks during compute()
  void exchange(double *data, int width, bool reverse);
  void sum_over_ranks(double *data, int count);

 protected:
  cace_model *model;
  int nthreads;            // worker threads inside one library call
  int single_precision;    // 1: features in single precision (forces and sums stay double)
  int include_e0;    // add the model file's per-element reference energies
  int long_range;    // the model has a long-range term (needs atom IDs with open boundaries)
  double cutoff;

  int *species;      // per LAMMPS type: model element index, -1 for NULL
  int nmax;          // allocated rows of atom_species / tag64
  int *atom_species;
  int64_t *tag64;    // global atom IDs in the ABI's type, owned atoms only

  double *xbuf;      // rows currently exchanged by forward/reverse comm
  int xwidth;
  int bad_width;     // width of a rejected exchange (errors cannot unwind through Swift)

  // per LAMMPS type: the mass last compared with the mapped element's standard atomic weight
  // (NaN = not yet), so that a suspicious mass is reported once per pair_coeff, not every run
  std::vector<double> mass_checked;

  virtual void allocate();
  void check_units();
  void apply_settings();
  void check_masses();
  void check_finite(int nall, double energy, const double *vir);
};

}    // namespace LAMMPS_NS

#endif
#endif
