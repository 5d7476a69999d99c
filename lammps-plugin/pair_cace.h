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

#include <memory>
#include <vector>

struct cace_model;    // opaque handle of the Swift library (PIMPL: no library types here)

namespace LAMMPS_NS {

class CACEMesh;    // the distributed mesh of the particle-mesh long-range method (pair_cace.cpp)

class PairCACE : public Pair {
 public:
  PairCACE(class LAMMPS *);
  ~PairCACE() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  void setup() override;
  double init_one(int, int) override;
  void reset_grid() override;
  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  // Grid3d ghost-point exchanges of the mesh (caller Grid3d::PAIR)
  void pack_forward_grid(int, void *, int, int *) override;
  void unpack_forward_grid(int, void *, int, int *) override;
  void pack_reverse_grid(int, void *, int, int *) override;
  void unpack_reverse_grid(int, void *, int, int *) override;

  // called from the library's host callbacks during compute()
  void exchange(double *data, int width, bool reverse);
  void exchange(float *data, int width, bool reverse);
  void sum_over_ranks(double *data, int count);
  void set_comm_sizes();

 protected:
  cace_model *model;
  int nthreads;            // worker threads inside one library call
  int single_precision;    // 1: features in single precision (forces and sums stay double)
  int include_e0;    // add the model file's per-element reference energies
  int long_range;    // the model has a long-range term (needs atom IDs with open boundaries)
  double cutoff;

  // long-range method (cace.h: CACE_LONG_RANGE_AUTO/DIRECT/MESH) and mesh accuracy (0 = the
  // library's default); lr_given: the long_range or accuracy keyword was used
  int lr_method;
  double lr_accuracy;
  int lr_given;
  int lr_pin;          // 1: fix the k-set at the start of each run (default); 0: per evaluation
  int pinned;          // the model's k-set is pinned to the cell of the last setup()
  int plan_mesh[3];    // mesh points and B-spline order of the pinned plan (mesh method)
  int plan_order;
  std::unique_ptr<CACEMesh> mesh;    // the distributed mesh while the pinned plan is a mesh

  // the committee's spread of each owned atom's energy (models fitted with cace fit
  // --committee K), computed on the steps where fix pair sets uncertainty_flag
  int uncertainty_flag;
  int nmax_uncertainty;
  double *uncertainty;
  // the committee's force deviation per owned atom (as cace evaluate --uncertainty), computed on
  // the steps where fix pair sets force_deviation_flag; its exchange takes 3K doubles per atom
  int force_deviation_flag;
  int nmax_force_deviation;
  double *force_deviation;

  int *species;      // per LAMMPS type: model element index, -1 for NULL
  int nmax;          // allocated rows of atom_species / tag64
  int *atom_species;
  int64_t *tag64;    // global atom IDs in the ABI's type, owned atoms only

  // rows currently exchanged by forward/reverse comm, as bytes: xwidth doubles, or xwidth floats
  // (precision single's features) two to a double of LAMMPS' buffers, in xslots doubles per row
  char *xrows;
  int xwidth;
  int xslots;
  bool xfloats;
  void exchange_rows(void *data, int width, bool floats, bool reverse);
  int bad_width;     // width of a rejected exchange (errors cannot unwind through Swift)

  // per LAMMPS type: the mass last compared with the mapped element's standard atomic weight
  // (NaN = not yet), so that a suspicious mass is reported once per pair_coeff, not every run
  std::vector<double> mass_checked;

  virtual void allocate();
  void check_units();
  void apply_settings();
  void check_masses();
  void check_finite(int nall, double energy, const double *vir);
  void check_box_reach();
  void explain_geometry_failure(int nall, const char *err);

  // the box (domain->h) and neighbour reach (cutneighmax) of the last neighbour list build
  double h_build[6];
  double reach_build;
  int reach_recorded;
  void pin_long_range();
  void unpin_long_range();
  void rebuild_mesh();
};

}    // namespace LAMMPS_NS

#endif
#endif
