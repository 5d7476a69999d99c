/* ----------------------------------------------------------------------
   pair_style cace: Cartesian atomic cluster expansion (CACE) potentials.

   This file is glue only: it hands LAMMPS' atoms, ghost atoms and full neighbour list to the
   Swift library (C ABI in cace.h) and lets the library call back into LAMMPS for the forward /
   reverse communication that message-passing layers need and for sums over ranks. For the
   particle-mesh long-range method it also provides the distributed mesh (CACEMesh below):
   LAMMPS' Grid3d for the ghost points of each rank's brick, and the KSPACE package's Remap and
   FFT3d for the parallel 3-D FFT. The library spreads charges and interpolates; LAMMPS moves
   mesh values between ranks.
------------------------------------------------------------------------- */

#include "pair_cace.h"

#include "cace.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "fft3d_wrap.h"
#include "force.h"
#include "grid3d.h"
#include "info.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "remap_wrap.h"
#include "update.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

using namespace LAMMPS_NS;

namespace {

constexpr size_t ERRLEN = 1024;

// chemical symbols by atomic number, only used to list a model's elements in error messages
const char *const SYMBOLS =
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se "
    "Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy "
    "Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf "
    "Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og";

// standard atomic weights by atomic number (IUPAC abridged values, g/mol; for elements without
// one, the mass number of the longest-lived isotope), only used to spot a wrong element order
constexpr double MASSES[] = {
    0.0,     1.008,   4.0026,  6.94,    9.0122,  10.81,   12.011,  14.007,  15.999,  18.998,
    20.180,  22.990,  24.305,  26.982,  28.085,  30.974,  32.06,   35.45,   39.95,   39.098,
    40.078,  44.956,  47.867,  50.942,  51.996,  54.938,  55.845,  58.933,  58.693,  63.546,
    65.38,   69.723,  72.630,  74.922,  78.971,  79.904,  83.798,  85.468,  87.62,   88.906,
    91.224,  92.906,  95.95,   98.0,    101.07,  102.91,  106.42,  107.87,  112.41,  114.82,
    118.71,  121.76,  127.60,  126.90,  131.29,  132.91,  137.33,  138.91,  140.12,  140.91,
    144.24,  145.0,   150.36,  151.96,  157.25,  158.93,  162.50,  164.93,  167.26,  168.93,
    173.05,  174.97,  178.49,  180.95,  183.84,  186.21,  190.23,  192.22,  195.08,  196.97,
    200.59,  204.38,  207.2,   208.98,  209.0,   210.0,   222.0,   223.0,   226.0,   227.0,
    232.04,  231.04,  238.03,  237.0,   244.0,   243.0,   247.0,   247.0,   251.0,   252.0,
    257.0,   258.0,   259.0,   262.0,   267.0,   268.0,   269.0,   270.0,   269.0,   278.0,
    281.0,   282.0,   285.0,   286.0,   289.0,   290.0,   293.0,   294.0,   294.0};
constexpr int NMASSES = sizeof(MASSES) / sizeof(MASSES[0]);
static_assert(NMASSES == 119, "one standard atomic weight per element H..Og");

// relative difference of a type's mass from its element's standard atomic weight that is reported
constexpr double MASS_TOLERANCE = 0.05;

std::string symbol_of(int z)
{
  auto words = utils::split_words(SYMBOLS);
  if (z > 0 && z < (int) words.size()) return words[z];
  return fmt::format("Z={}", z);
}

// host callbacks handed to the library; the context is the pair style
void forward_cb(void *ctx, double *data, int width)
{
  static_cast<PairCACE *>(ctx)->exchange(data, width, false);
}

void reverse_cb(void *ctx, double *data, int width)
{
  static_cast<PairCACE *>(ctx)->exchange(data, width, true);
}

void forward_float_cb(void *ctx, float *data, int width)
{
  static_cast<PairCACE *>(ctx)->exchange(data, width, false);
}

void reverse_float_cb(void *ctx, float *data, int width)
{
  static_cast<PairCACE *>(ctx)->exchange(data, width, true);
}

void sum_cb(void *ctx, double *data, int count)
{
  static_cast<PairCACE *>(ctx)->sum_over_ranks(data, count);
}

// mesh callbacks of cace_mesh_host; the context is the CACEMesh
void mesh_sum_ghosts_cb(void *ctx, double *brick);
void mesh_fill_ghosts_cb(void *ctx, double *brick);
void mesh_forward_cb(void *ctx, const double *brick, double *spectrum);
void mesh_backward_cb(void *ctx, const double *spectrum, double *brick);

// The mesh values are FFT_SCALAR arrays for Remap and FFT3d, and double arrays for the library
static_assert(sizeof(FFT_SCALAR) == sizeof(double),
              "pair_style cace passes double arrays to FFT3d and Remap: build the plugin without "
              "FFT_SINGLE");

// extent helpers: [lo, hi] inclusive per axis, x fastest in memory
struct Box3 {
  int lo[3], hi[3];
  int64_t count() const
  {
    int64_t n = 1;
    for (int a = 0; a < 3; a++) n *= std::max(0, hi[a] - lo[a] + 1);
    return n;
  }
};

// Pencils along x for the FFT: y is split over npy ranks and z over npz, npy * npz = nprocs.
// Among the factor pairs, take the one whose pencils have the squarest cross-section (the
// transposes inside FFT3d then move the least data), avoiding ranks without any pencil.
void pencil_grid(int nprocs, int ny, int nz, int &npy, int &npz)
{
  double best = std::numeric_limits<double>::infinity();
  npy = 1;
  npz = nprocs;
  for (int py = 1; py <= nprocs; py++) {
    if (nprocs % py) continue;
    const int pz = nprocs / py;
    const double a = double(ny) / py, b = double(nz) / pz;
    double cost = std::max(a / b, b / a);
    if (py > ny || pz > nz) cost += 1e6;    // some ranks would hold no part of the spectrum
    if (cost < best) {
      best = cost;
      npy = py;
      npz = pz;
    }
  }
}

}    // namespace

namespace LAMMPS_NS {

/* ----------------------------------------------------------------------
   The distributed mesh of the particle-mesh long-range method (cace_mesh_host in cace.h).

   Each rank holds a brick of mesh points: the points it owns (Grid3d's partition of the mesh
   by the rank's subdomain, in lamda coordinates for triclinic boxes) plus ghost layers wide
   enough for the B-spline stencil of every atom it owns, including atoms that have moved since
   the last reneighbouring. The spectrum lives in x pencils (y and z split over the ranks), the
   layout FFT3d transforms in place. Memory per rank is proportional to its share of the mesh.

   The mesh is defined in fractional coordinates of the box (point g at s = g / K from boxlo),
   so it follows the box as it changes shape during a run (fix npt, fix deform): the same
   Grid3d, Remap and FFT3d serve the whole run as long as the domain decomposition is the same.
------------------------------------------------------------------------- */

class CACEMesh : protected Pointers {
 public:
  CACEMesh(LAMMPS *lmp, Pair *pair, const int mesh[3], int order);
  ~CACEMesh() override;
  CACEMesh(const CACEMesh &) = delete;
  CACEMesh &operator=(const CACEMesh &) = delete;

  cace_mesh_host host;    // handed to the library in cace_host.mesh
  double *data;           // the brick being exchanged by Grid3d (pack/unpack callbacks)

  bool decomposition_changed();
  void sum_ghosts(double *brick);
  void fill_ghosts(double *brick);
  void forward(const double *brick, double *spectrum);
  void backward(const double *spectrum, double *brick);

 private:
  Pair *pair;
  Grid3d *grid;
  Remap *to_pencil;      // owned points of the bricks -> x pencils (real values)
  Remap *to_brick;       // x pencils -> owned points of the bricks (real values)
  FFT3d *fft;            // x pencils -> x pencils, in place, both directions
  Box3 owned, brick, pencil;
  int64_t nwork;         // max(owned points, pencil points)
  int ngc_buf1, ngc_buf2;
  double *gc_buf1, *gc_buf2;
  double *real_buf, *remap_buf, *work;

  // the domain decomposition the grid was built for (see decomposition_changed)
  int layout;
  std::vector<double> splits;

  std::vector<double> current_splits() const;
  void pack_owned(const double *brick_data, double *dest) const;
};

CACEMesh::CACEMesh(LAMMPS *lmp, Pair *pair_in, const int mesh[3], int order) :
    Pointers(lmp), data(nullptr), pair(pair_in), grid(nullptr), to_pencil(nullptr),
    to_brick(nullptr), fft(nullptr), gc_buf1(nullptr), gc_buf2(nullptr),
    real_buf(nullptr), remap_buf(nullptr), work(nullptr)
{
  // the plugin was compiled with FFT_SCALAR = double (static_assert above); liblammps must
  // agree, or FFT3d and Remap would read our arrays as floats
  const std::string fftinfo = Info::get_fft_info();
  if (fftinfo.find("precision  = double") == std::string::npos ||
      fftinfo.find("HeFFTe") != std::string::npos)
    error->all(FLERR,
               "pair_style cace long_range mesh needs a LAMMPS whose KSPACE FFTs are double "
               "precision and not heFFTe (this LAMMPS: {}); rebuild LAMMPS without FFT_SINGLE "
               "and FFT_USE_HEFFTE, or use long_range direct",
               utils::trim(fftinfo));

  // Ghost layers: an owned atom at mesh coordinate u spreads onto floor(u) - order + 1 ...
  // floor(u) along each axis (cace.h), so the stencil reaches order - 1 points below the
  // atom's point and none above, and mesh point g is at the lower corner of cell g (shift 0).
  // Owned atoms lie in the subdomain at reneighbouring and move at most skin/2 before the
  // next one. When the box changes during the run (fix npt, fix deform with remap x), an
  // atom's displacement in lamda coordinates is its displacement minus the affine one, which
  // the neighbour check also limits to skin/2 (at the far side of the box), so it can reach
  // a full skin: then the ghost layers cover one skin.
  const double maxdist = (domain->box_change ? 1.0 : 0.5) * neighbor->skin;
  grid = new Grid3d(lmp, world, mesh[0], mesh[1], mesh[2]);
  grid->set_distance(maxdist);
  grid->set_stencil_atom(order - 1, 0);
  grid->set_shift_atom(0.0, 0.0);
  grid->set_shift_grid(0.0);
  grid->setup_grid(owned.lo[0], owned.hi[0], owned.lo[1], owned.hi[1], owned.lo[2], owned.hi[2],
                   brick.lo[0], brick.hi[0], brick.lo[1], brick.hi[1], brick.lo[2], brick.hi[2]);
  // Grid3d's tiled (RCB) exchanges shift a ghost region by at most one period: a brick wider
  // than the mesh (small mesh, high order, thin subdomain) would receive overlapping pieces.
  // Brick layouts repeat their swaps and handle it. Decided on all ranks together.
  if (comm->layout == Comm::LAYOUT_TILED) {
    int wide = 0, wide_any = 0;
    for (int a = 0; a < 3; a++) wide |= brick.hi[a] - brick.lo[a] + 1 > mesh[a];
    MPI_Allreduce(&wide, &wide_any, 1, MPI_INT, MPI_MAX, world);
    if (wide_any)
      error->all(FLERR,
                 "pair_style cace long_range mesh: with comm_style tiled a rank's mesh brick "
                 "(owned points plus {} ghost layers for B-splines of order {}) must not be wider "
                 "than the {}x{}x{} mesh; use comm_style brick, or a larger box",
                 order - 1, order, mesh[0], mesh[1], mesh[2]);
  }
  grid->setup_comm(ngc_buf1, ngc_buf2);
  memory->create(gc_buf1, std::max(ngc_buf1, 1), "pair:cace:gc_buf1");
  memory->create(gc_buf2, std::max(ngc_buf2, 1), "pair:cace:gc_buf2");

  int npy, npz;
  pencil_grid(comm->nprocs, mesh[1], mesh[2], npy, npz);
  const int my = comm->me % npy, mz = comm->me / npy;
  pencil.lo[0] = 0;
  pencil.hi[0] = mesh[0] - 1;
  pencil.lo[1] = my * mesh[1] / npy;
  pencil.hi[1] = (my + 1) * mesh[1] / npy - 1;
  pencil.lo[2] = mz * mesh[2] / npz;
  pencil.hi[2] = (mz + 1) * mesh[2] / npz - 1;

  // Buffers: the owned points of a brick or a pencil of real values (and the remap's scratch of
  // the same size), and a complex pencil for the backward transform. One FFT3d plan serves both
  // directions in place on the pencils, and the remaps move real values only (half the data of
  // a complex remap; the spectrum never leaves the pencils).
  nwork = std::max<int64_t>(std::max(owned.count(), pencil.count()), 1);
  memory->create(real_buf, nwork, "pair:cace:mesh_real");
  memory->create(remap_buf, nwork, "pair:cace:mesh_remap");
  memory->create(work, 2 * std::max<int64_t>(pencil.count(), 1), "pair:cace:mesh_work");

  // unscaled transforms (scaled = 0) in both directions, x fastest (permute = 0);
  // FFT3d::FORWARD is exp(-2 pi i m.g / K), BACKWARD exp(+2 pi i m.g / K): the signs of cace.h
  int nbuf = 0;
  fft = new FFT3d(lmp, world, mesh[0], mesh[1], mesh[2], pencil.lo[0], pencil.hi[0], pencil.lo[1],
                  pencil.hi[1], pencil.lo[2], pencil.hi[2], pencil.lo[0], pencil.hi[0],
                  pencil.lo[1], pencil.hi[1], pencil.lo[2], pencil.hi[2], 0, 0, &nbuf, 0);
  to_pencil = new Remap(lmp, world, owned.lo[0], owned.hi[0], owned.lo[1], owned.hi[1],
                        owned.lo[2], owned.hi[2], pencil.lo[0], pencil.hi[0], pencil.lo[1],
                        pencil.hi[1], pencil.lo[2], pencil.hi[2], 1, 0, 0, FFT_PRECISION, 0);
  to_brick = new Remap(lmp, world, pencil.lo[0], pencil.hi[0], pencil.lo[1], pencil.hi[1],
                       pencil.lo[2], pencil.hi[2], owned.lo[0], owned.hi[0], owned.lo[1],
                       owned.hi[1], owned.lo[2], owned.hi[2], 1, 0, 0, FFT_PRECISION, 0);

  layout = comm->layout;
  splits = current_splits();

  host.context = this;
  for (int a = 0; a < 3; a++) {
    host.mesh[a] = mesh[a];
    host.brick_lo[a] = brick.lo[a];
    host.brick_hi[a] = brick.hi[a];
    host.spectrum_lo[a] = pencil.lo[a];
    host.spectrum_hi[a] = pencil.hi[a];
  }
  host.origin = domain->boxlo;    // read by the library at each call: follows the box
  host.sum_ghosts = mesh_sum_ghosts_cb;
  host.fill_ghosts = mesh_fill_ghosts_cb;
  host.forward = mesh_forward_cb;
  host.backward = mesh_backward_cb;
}

CACEMesh::~CACEMesh()
{
  delete grid;
  delete to_pencil;
  delete to_brick;
  delete fft;
  memory->destroy(gc_buf1);
  memory->destroy(gc_buf2);
  memory->destroy(real_buf);
  memory->destroy(remap_buf);
  memory->destroy(work);
}

// The subdomain boundaries in fractional coordinates: Grid3d's partition follows them.
// For brick layouts they are the same on every rank; for tiled ones each rank has its own.
std::vector<double> CACEMesh::current_splits() const
{
  std::vector<double> v;
  if (comm->layout != Comm::LAYOUT_TILED) {
    const double *split[3] = {comm->xsplit, comm->ysplit, comm->zsplit};
    for (int a = 0; a < 3; a++)
      for (int i = 0; i <= comm->procgrid[a]; i++) v.push_back(split[a][i]);
  } else {
    for (int a = 0; a < 3; a++) {
      v.push_back(comm->mysplit[a][0]);
      v.push_back(comm->mysplit[a][1]);
    }
  }
  return v;
}

// True on every rank if the subdomains moved since the grid was built (load balancing, e.g.
// fix balance under pair_style hybrid, which does not pass reset_grid() on). Called every step:
// compares in place, without allocating. Collective for tiled layouts only: brick layouts keep
// the same split arrays on every rank, so every rank reaches the same answer on its own.
bool CACEMesh::decomposition_changed()
{
  int changed = comm->layout != layout;
  if (!changed) {
    size_t k = 0;
    if (layout != Comm::LAYOUT_TILED) {
      const double *split[3] = {comm->xsplit, comm->ysplit, comm->zsplit};
      for (int a = 0; a < 3 && !changed; a++)
        for (int i = 0; i <= comm->procgrid[a] && !changed; i++, k++)
          changed = k >= splits.size() || split[a][i] != splits[k];
    } else {
      for (int a = 0; a < 3; a++)
        for (int i = 0; i < 2; i++, k++) changed |= comm->mysplit[a][i] != splits[k];
    }
    changed |= k != splits.size();
  }
  if (comm->layout == Comm::LAYOUT_TILED || layout == Comm::LAYOUT_TILED) {
    int any = 0;
    MPI_Allreduce(&changed, &any, 1, MPI_INT, MPI_MAX, world);
    changed = any;
  }
  return changed != 0;
}

void CACEMesh::sum_ghosts(double *brick_data)
{
  data = brick_data;
  grid->reverse_comm(Grid3d::PAIR, pair, 0, 1, sizeof(double), gc_buf1, gc_buf2, MPI_DOUBLE);
  data = nullptr;
}

void CACEMesh::fill_ghosts(double *brick_data)
{
  data = brick_data;
  grid->forward_comm(Grid3d::PAIR, pair, 0, 1, sizeof(double), gc_buf1, gc_buf2, MPI_DOUBLE);
  data = nullptr;
}

// the owned points of a brick (owned + ghost points) as a contiguous owned-only array
void CACEMesh::pack_owned(const double *brick_data, double *dest) const
{
  const int64_t nx = brick.hi[0] - brick.lo[0] + 1, ny = brick.hi[1] - brick.lo[1] + 1;
  const int wx = owned.hi[0] - owned.lo[0] + 1;
  if (wx <= 0) return;
  int64_t n = 0;
  for (int z = owned.lo[2]; z <= owned.hi[2]; z++)
    for (int y = owned.lo[1]; y <= owned.hi[1]; y++) {
      const double *row =
          brick_data + ((z - brick.lo[2]) * ny + (y - brick.lo[1])) * nx + (owned.lo[0] - brick.lo[0]);
      std::copy(row, row + wx, dest + n);
      n += wx;
    }
}

void CACEMesh::forward(const double *brick_data, double *spectrum)
{
  pack_owned(brick_data, real_buf);
  to_pencil->perform(real_buf, real_buf, remap_buf);
  const int64_t n = pencil.count();
  for (int64_t i = 0; i < n; i++) {
    spectrum[2 * i] = real_buf[i];
    spectrum[2 * i + 1] = 0.0;
  }
  // in place on the library's spectrum array: input and output are the same pencils
  fft->compute(spectrum, spectrum, FFT3d::FORWARD);
}

void CACEMesh::backward(const double *spectrum, double *brick_data)
{
  // the library's spectrum is read-only here: transform a copy, then send the real parts back
  // to the ranks that own those points
  const int64_t n = pencil.count();
  std::copy(spectrum, spectrum + 2 * n, work);
  fft->compute(work, work, FFT3d::BACKWARD);
  for (int64_t i = 0; i < n; i++) real_buf[i] = work[2 * i];
  to_brick->perform(real_buf, real_buf, remap_buf);
  const int64_t nx = brick.hi[0] - brick.lo[0] + 1, ny = brick.hi[1] - brick.lo[1] + 1;
  int64_t k = 0;
  for (int z = owned.lo[2]; z <= owned.hi[2]; z++)
    for (int y = owned.lo[1]; y <= owned.hi[1]; y++) {
      double *row = brick_data + ((z - brick.lo[2]) * ny + (y - brick.lo[1])) * nx - brick.lo[0];
      for (int x = owned.lo[0]; x <= owned.hi[0]; x++, k++) row[x] = real_buf[k];
    }
}

}    // namespace LAMMPS_NS

namespace {

void mesh_sum_ghosts_cb(void *ctx, double *brick)
{
  static_cast<CACEMesh *>(ctx)->sum_ghosts(brick);
}

void mesh_fill_ghosts_cb(void *ctx, double *brick)
{
  static_cast<CACEMesh *>(ctx)->fill_ghosts(brick);
}

void mesh_forward_cb(void *ctx, const double *brick, double *spectrum)
{
  static_cast<CACEMesh *>(ctx)->forward(brick, spectrum);
}

void mesh_backward_cb(void *ctx, const double *spectrum, double *brick)
{
  static_cast<CACEMesh *>(ctx)->backward(spectrum, brick);
}

}    // namespace

/* ---------------------------------------------------------------------- */

PairCACE::PairCACE(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the library returns the virial (full list, forces on ghosts)

  model = nullptr;
  nthreads = 1;
  single_precision = 0;
  include_e0 = 1;    // like cace evaluate: the model file's E0s, if it has any, are part of the energy
  long_range = 0;
  cutoff = 0.0;
  lr_method = CACE_LONG_RANGE_AUTO;
  lr_accuracy = 0.0;    // the library's default
  lr_given = 0;
  lr_pin = 1;
  pinned = 0;
  plan_mesh[0] = plan_mesh[1] = plan_mesh[2] = 0;
  plan_order = 0;
  uncertainty_flag = 0;
  nmax_uncertainty = 0;
  uncertainty = nullptr;
  force_deviation_flag = 0;
  nmax_force_deviation = 0;
  force_deviation = nullptr;
  species = nullptr;
  nmax = 0;
  atom_species = nullptr;
  tag64 = nullptr;
  xrows = nullptr;
  xwidth = 0;
  xslots = 0;
  xfloats = false;
  bad_width = 0;
  reach_recorded = 0;
  reach_build = 0.0;
  for (double &v : h_build) v = 0.0;
}

/* ---------------------------------------------------------------------- */

PairCACE::~PairCACE()
{
  if (copymode) return;

  mesh.reset();
  cace_model_free(model);
  memory->destroy(atom_species);
  memory->destroy(tag64);
  memory->destroy(uncertainty);
  memory->destroy(force_deviation);

  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    delete[] species;    // map is freed by ~Pair()
  }
}

/* ---------------------------------------------------------------------- */

void PairCACE::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  if (atom->nmax > nmax) {
    nmax = atom->nmax;
    memory->destroy(atom_species);
    memory->destroy(tag64);
    memory->create(atom_species, nmax, "pair:cace:atom_species");
    memory->create(tag64, nmax, "pair:cace:tag64");
  }

  const int *type = atom->type;
  for (int i = 0; i < nall; i++) atom_species[i] = species[type[i]];
  check_box_reach();

  // restricted triclinic cell rows a, b, c; h = (xprd, yprd, zprd, yz, xz, xy)
  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  const int periodic = domain->xperiodic && domain->yperiodic && domain->zperiodic;
  // open boundaries with a long-range term: the library's direct sum places atom i in slot
  // tag[i] of 1..natoms, so pass the largest atom ID rather than the atom count (IDs may have
  // gaps, e.g. after delete_atoms compress no). Only the long-range term reads tags and natoms:
  // without one, skip the loop and the collective (it would be an Allreduce every step).
  const bool need_tags = long_range && !periodic;
  int64_t slots = atom->natoms;
  if (need_tags) {
    tagint maxtag = 0, maxtag_all = 0;
    for (int i = 0; i < nlocal; i++) {
      tag64[i] = atom->tag[i];
      maxtag = std::max(maxtag, atom->tag[i]);
    }
    MPI_Allreduce(&maxtag, &maxtag_all, 1, MPI_LMP_TAGINT, MPI_MAX, world);
    slots = maxtag_all;
  }

  // a rank may own no atoms at all (its arrays may be unallocated): it still takes part in the
  // collectives, and the library gets valid (empty) pointers rather than null ones
  double no_rows[6] = {0.0};
  int no_species[1] = {-1};
  int64_t no_tags[1] = {0};
  cace_system sys;
  sys.nlocal = nlocal;
  sys.nall = nall;
  sys.x = nall ? &atom->x[0][0] : no_rows;
  sys.species = nall ? atom_species : no_species;
  sys.inum = list->inum;
  sys.ilist = list->ilist;
  sys.numneigh = list->numneigh;
  sys.firstneigh = list->firstneigh;
  sys.neighmask = NEIGHMASK;
  sys.periodic = periodic;
  sys.cell = cell;
  sys.tag = !need_tags ? nullptr : nlocal ? tag64 : no_tags;
  sys.natoms = slots;

  // the k-set is pinned in setup() at the start of each run; a force call without one since
  // the model was (re)configured (e.g. pair_style re-issued, then 'run N pre no') pins here.
  // Every rank takes the same branches: the flags only change in collective commands.
  if (long_range && periodic && lr_pin && !pinned) pin_long_range();
  if (mesh && mesh->decomposition_changed()) rebuild_mesh();

  cace_host host;
  host.context = this;
  host.forward_exchange = forward_cb;
  host.reverse_exchange = reverse_cb;
  host.sum_over_ranks = sum_cb;
  host.mesh = mesh ? &mesh->host : nullptr;    // only while the pinned plan is the mesh
  host.forward_exchange_float = forward_float_cb;
  host.reverse_exchange_float = reverse_float_cb;

  cace_result res;
  res.energy = 0.0;
  for (double &v : res.virial) v = 0.0;
  res.forces = nall ? &atom->f[0][0] : no_rows;    // added to; ghosts are reverse-communicated
  res.atom_energy = (eflag_atom && eatom) ? eatom : nullptr;
  res.atom_virial = (vflag_atom && vatom) ? &vatom[0][0] : nullptr;    // [nall][6], added to
  res.include_e0 = include_e0;

  char err[ERRLEN] = "";
  bad_width = 0;
  const int status = cace_compute(model, &sys, &host, &res, err, sizeof(err));
  if (bad_width)
    error->all(FLERR, "CACE library exchanged {} doubles per atom, but only {} were reserved",
               bad_width, comm_forward);
  if (status == CACE_ERR_GEOMETRY) explain_geometry_failure(nall, err);
  if (status != CACE_OK) error->one(FLERR, "CACE evaluation failed: {}", err);
  check_finite(nall, res.energy, res.virial);

  // fix pair asked for the committee's per-atom spread on this step: a forward pass of the
  // features only, so the steps in between cost nothing extra
  if (uncertainty_flag) {
    if (atom->nmax > nmax_uncertainty) {
      nmax_uncertainty = atom->nmax;
      memory->destroy(uncertainty);
      memory->create(uncertainty, nmax_uncertainty, "pair:cace:uncertainty");
    }
    if (cace_compute_committee_atom_spread(model, &sys, &host, uncertainty, err, sizeof(err)) != CACE_OK)
      error->one(FLERR, "CACE committee spread failed: {}", err);
    uncertainty_flag = 0;
  }
  // the same for the force deviation: the edges' feature Jacobians, one reverse exchange
  if (force_deviation_flag) {
    if (atom->nmax > nmax_force_deviation) {
      nmax_force_deviation = atom->nmax;
      memory->destroy(force_deviation);
      memory->create(force_deviation, nmax_force_deviation, "pair:cace:force_deviation");
    }
    bad_width = 0;
    const int status = cace_compute_committee_force_deviation(model, &sys, &host, force_deviation, err, sizeof(err));
    if (bad_width)
      error->all(FLERR, "CACE library exchanged {} doubles per atom, but only {} were reserved",
                 bad_width, comm_reverse);
    if (status != CACE_OK) error->one(FLERR, "CACE committee force deviation failed: {}", err);
    force_deviation_flag = 0;
  }

  if (eflag_global) eng_vdwl += res.energy;
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += res.virial[k];
}

/* ----------------------------------------------------------------------
   fix pair: "uncertainty" is the committee's standard deviation of each owned atom's energy
   (eV), computed on the steps where fix pair sets "uncertainty_flag"; "force_deviation" is the
   committee's force deviation of each owned atom (eV/A), on the steps of "force_deviation_flag"
------------------------------------------------------------------------- */

void *PairCACE::extract(const char *name, int &dim)
{
  dim = 0;
  if (strcmp(name, "uncertainty_flag") == 0) {
    if (!model || cace_model_committee_size(model) == 0)
      error->all(FLERR, "pair_style cace: fix pair asks for 'uncertainty', but the model has no committee "
                 "(fit one with cace fit --committee K)");
    return (void *) &uncertainty_flag;
  }
  if (strcmp(name, "force_deviation_flag") == 0) {
    if (!model || cace_model_committee_size(model) == 0)
      error->all(FLERR, "pair_style cace: fix pair asks for 'force_deviation', but the model has no "
                 "committee (fit one with cace fit --committee K)");
    return (void *) &force_deviation_flag;
  }
  return nullptr;
}

void *PairCACE::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;    // one value per atom
  if (strcmp(name, "uncertainty") == 0) return (void *) uncertainty;
  if (strcmp(name, "force_deviation") == 0) return (void *) force_deviation;
  return nullptr;
}

/* ---------------------------------------------------------------------- */

void PairCACE::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  map = new int[n];
  species = new int[n];
  for (int i = 0; i < n; i++) {
    map[i] = species[i] = -1;
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
  }
}

/* ----------------------------------------------------------------------
   global settings: pair_style cace [threads N] [precision double|single] [e0 yes|no]
                    [long_range auto|direct|mesh] [accuracy X] [pin yes|no]
------------------------------------------------------------------------- */

void PairCACE::settings(int narg, char **arg)
{
  check_units();

  // a pair_style command states all settings: a re-issued one starts from the defaults (an
  // earlier 'pin no' must not survive 'pair_style cace long_range mesh', for example)
  nthreads = 1;
  single_precision = 0;
  include_e0 = 1;
  lr_method = CACE_LONG_RANGE_AUTO;
  lr_accuracy = 0.0;
  lr_given = 0;
  lr_pin = 1;

  int iarg = 0;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "threads") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace threads", error);
      nthreads = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (nthreads < 1) error->all(FLERR, "pair_style cace threads must be >= 1, got {}", nthreads);
      iarg += 2;
    } else if (strcmp(arg[iarg], "precision") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace precision", error);
      if (strcmp(arg[iarg + 1], "double") == 0)
        single_precision = 0;
      else if (strcmp(arg[iarg + 1], "single") == 0)
        single_precision = 1;
      else
        error->all(FLERR, "pair_style cace precision must be 'double' or 'single', got '{}'",
                   arg[iarg + 1]);
      iarg += 2;
    } else if (strcmp(arg[iarg], "e0") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace e0", error);
      include_e0 = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (strcmp(arg[iarg], "long_range") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace long_range", error);
      if (strcmp(arg[iarg + 1], "auto") == 0)
        lr_method = CACE_LONG_RANGE_AUTO;
      else if (strcmp(arg[iarg + 1], "direct") == 0)
        lr_method = CACE_LONG_RANGE_DIRECT;
      else if (strcmp(arg[iarg + 1], "mesh") == 0)
        lr_method = CACE_LONG_RANGE_MESH;
      else
        error->all(FLERR, "pair_style cace long_range must be 'direct', 'mesh' or 'auto', got '{}'",
                   arg[iarg + 1]);
      lr_given = 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "accuracy") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace accuracy", error);
      // the range is the library's (cace_model_set_long_range): checked in apply_settings()
      lr_accuracy = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      lr_given = 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "pin") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, "pair_style cace pin", error);
      lr_pin = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else {
      error->all(FLERR,
                 "Unknown pair_style cace keyword '{}' (known: threads N, precision double|single, "
                 "e0 yes|no, long_range direct|mesh|auto, accuracy X, pin yes|no)",
                 arg[iarg]);
    }
  }
  // without pinning, every force call chooses its own k-set (and mesh), for which LAMMPS has no
  // distributed mesh: only the direct sum can follow
  if (!lr_pin && lr_method != CACE_LONG_RANGE_DIRECT)
    error->all(FLERR,
               "pair_style cace pin no needs long_range direct (a k-set chosen at every step "
               "has no fixed mesh); add 'long_range direct' or remove 'pin no'");
  if (model) apply_settings();    // pair_style re-issued after pair_coeff
}

/* ----------------------------------------------------------------------
   pair_coeff * * MODEL E1 ... EN: one element symbol (or NULL) per atom type
------------------------------------------------------------------------- */

void PairCACE::coeff(int narg, char **arg)
{
  if (narg < 3) utils::missing_cmd_args(FLERR, "pair_coeff", error);
  const int ntypes = atom->ntypes;
  if (narg - 3 != ntypes)
    error->all(FLERR,
               "pair_coeff * * {} needs one element symbol (or NULL) per atom type: got {}, but "
               "there are {} atom types",
               arg[2], narg - 3, ntypes);
  if (!allocated) allocate();

  const std::string file = utils::get_potential_file_path(arg[2]);
  if (file.empty()) error->all(FLERR, "Cannot find CACE model file {}", arg[2]);
  if (comm->me == 0) utils::logmesg(lmp, "Loading CACE model {}\n", file);

  if (cace_abi_version() != CACE_ABI_VERSION)
    error->all(FLERR, "CACE library has ABI version {}, but pair_style cace was built for {}: rebuild both",
               cace_abi_version(), CACE_ABI_VERSION);

  // every rank loads its own copy; agree on failure so that error->all() cannot hang
  cace_model *loaded = nullptr;
  char err[ERRLEN] = "";
  int failed = cace_model_load(file.c_str(), &loaded, err, sizeof(err)) != CACE_OK;
  int nfailed = 0;
  MPI_Allreduce(&failed, &nfailed, 1, MPI_INT, MPI_SUM, world);
  if (nfailed == comm->nprocs) error->all(FLERR, "Cannot load CACE model file {}: {}", file, err);
  if (failed) error->one(FLERR, "Cannot load CACE model file {}: {}", file, err);
  if (nfailed) error->all(FLERR, "Cannot load CACE model file {} on {} MPI rank(s)", file, nfailed);
  cace_model_free(model);
  model = loaded;
  cutoff = cace_model_cutoff(model);
  long_range = cace_model_has_long_range(model) ? 1 : 0;
  apply_settings();

  std::string names;
  const int nel = cace_model_num_elements(model);
  for (int e = 0; e < nel; e++)
    names += (e ? " " : "") + symbol_of(cace_model_atomic_number(model, e));

  // all types NULL: map_element2type() would only say "Incorrect args for pair coefficients"
  bool any_element = false;
  for (int k = 3; k < narg; k++) any_element = any_element || strcmp(arg[k], "NULL") != 0;
  if (!any_element)
    error->all(FLERR,
               "pair_coeff * * {}: all atom types are NULL, but at least one atom type must map "
               "to an element of the model (model elements: {})",
               arg[2], names);

  // map[t] indexes the unique symbols in elements[]; species[t] is the model's element index
  map_element2type(narg - 3, arg + 3);
  for (int t = 1; t <= ntypes; t++) {
    if (map[t] < 0) {
      species[t] = -1;
      if (comm->me == 0) utils::logmesg(lmp, "  atom type {} -> NULL (not handled by cace)\n", t);
      continue;
    }
    const char *el = elements[map[t]];
    species[t] = cace_model_element_index(model, el);
    if (species[t] < 0)
      error->all(FLERR, "Element {} is not in CACE model file {} (model elements: {})", el, file,
                 names);
    if (comm->me == 0)
      utils::logmesg(lmp, "  atom type {} -> {} (model element {})\n", t, el, species[t]);
  }

  set_comm_sizes();
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "CACE model: elements {}, cutoff {} A, {} message-passing layer(s), "
                   "long range {}, {} thread(s), {} precision\n",
                   names, cutoff, cace_model_num_message_passing(model), long_range ? "yes" : "no",
                   nthreads, single_precision ? "single" : "double");

  // a new mapping: compare every type's mass with its element at the next init
  mass_checked.assign(ntypes + 1, std::numeric_limits<double>::quiet_NaN());
}

/* ----------------------------------------------------------------------
   init specific to this pair style
------------------------------------------------------------------------- */

void PairCACE::init_style()
{
  check_units();
  if (!model) error->all(FLERR, "All pair coeffs are not set");
  if (atom->tag_enable == 0)
    error->all(FLERR, "Pair style cace requires atom IDs (remove 'atom_modify id no')");
  if (force->newton_pair == 0)
    error->all(FLERR, "Pair style cace requires newton pair on (use 'newton on')");

  // the library knows which boundaries its long-range method is defined for
  char err[ERRLEN] = "";
  if (cace_model_check_boundary(model, domain->xperiodic, domain->yperiodic, domain->zperiodic, err,
                                sizeof(err)) != CACE_OK)
    error->all(FLERR, "Pair style cace: {}", err);
  const int periodic = domain->xperiodic && domain->yperiodic && domain->zperiodic;
  if (long_range && !periodic && lr_method == CACE_LONG_RANGE_MESH)
    error->all(FLERR,
               "pair_style cace long_range mesh needs a box periodic in all three directions "
               "(with open boundaries the long-range term is a direct erf pair sum): use "
               "'boundary p p p', or long_range auto or direct");

  // the library's exchanges go through LAMMPS' comm buffers, which are sized from these
  set_comm_sizes();
  // Comm::init() (after Pair::init()) sizes the buffers from the top-level pair style only.
  // pair_style hybrid copies its sub-styles' comm sizes in its settings(), before pair_coeff
  // loaded the model (comm_forward was still 0 then), so raise the hybrid style's sizes here
  Pair *top = force->pair;
  if (top && top != this) {
    top->comm_forward = std::max(top->comm_forward, comm_forward);
    top->comm_reverse = std::max(top->comm_reverse, comm_reverse);
  }
  neighbor->add_request(this, NeighConst::REQ_FULL);
  reach_recorded = 0;    // the box of the next list build is the reference (check_box_reach)

  // masses are usually set after pair_coeff (data file or mass command), so check them here
  check_masses();
}

/* ----------------------------------------------------------------------
   init for one type pair i,j and corresponding j,i
------------------------------------------------------------------------- */

double PairCACE::init_one(int /*i*/, int /*j*/)
{
  return cutoff;
}

/* ----------------------------------------------------------------------
   start of every run and minimization (Verlet/Respa/Min::setup() -> Force::setup(); also
   through pair_style hybrid): pin the long-range k-set to the cell as it is now.

   Why here and not in init_style(): init_style() runs in init() before the run's box is final
   (setup() has already done domain->reset_box(), comm->setup() and the neighbour build), and
   init() also runs for commands that compute nothing. setup() runs once per 'run', 'minimize'
   and 'rerun', right before the first force call, so 'run 0' evaluates exactly upstream's
   k-set for the current cell, and the k-set (and mesh) then stay fixed for the whole run: the
   energy is a smooth function of the box under fix npt or fix deform, and the virial is its
   derivative. 'run N pre no' skips setup() and keeps the previous run's k-set.
------------------------------------------------------------------------- */

void PairCACE::setup()
{
  pin_long_range();
}

void PairCACE::pin_long_range()
{
  const int periodic = domain->xperiodic && domain->yperiodic && domain->zperiodic;
  if (!long_range || !periodic || !lr_pin) {
    // no long-range term, the open-boundary erf pair sum, or a k-set per force call (pin no)
    unpin_long_range();
    if (long_range && comm->me == 0)
      utils::logmesg(lmp, "CACE long range: {}\n",
                     periodic ? "direct sum, k-set chosen from the cell at every force call (pin no)"
                              : "open boundaries: direct erf pair sum over all atoms");
    return;
  }
  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  cace_long_range_plan plan;
  char err[ERRLEN] = "";
  // collective-free and deterministic: every rank gets the same plan (or the same error)
  if (cace_model_pin_long_range(model, cell, atom->natoms, &plan, err, sizeof(err)) != CACE_OK)
    error->all(FLERR, "pair_style cace long range for this box ({} atoms): {}", atom->natoms,
               err);
  pinned = 1;
  const bool use_mesh = plan.method == CACE_LONG_RANGE_MESH;
  for (int a = 0; a < 3; a++) plan_mesh[a] = use_mesh ? plan.mesh[a] : 0;
  plan_order = use_mesh ? plan.order : 0;
  rebuild_mesh();

  if (comm->me == 0) {
    const std::string kset = fmt::format("{} k-vectors (kmax {} {} {})", plan.kvector_count,
                                         plan.kmax[0], plan.kmax[1], plan.kmax[2]);
    // "(auto)": the library chose the method from atoms x k-vectors (cace.h)
    const char *how = lr_method == CACE_LONG_RANGE_AUTO ? " (auto)" : "";
    if (use_mesh)
      utils::logmesg(lmp,
                     "CACE long range: mesh {}x{}x{}, B-spline order {}, accuracy {:g}, {}{}, "
                     "k-set pinned to the cell at step {}; rank 0's brick: {}x{}x{} points with "
                     "ghosts\n",
                     plan.mesh[0], plan.mesh[1], plan.mesh[2], plan.order, plan.accuracy, kset,
                     how, update->ntimestep, mesh->host.brick_hi[0] - mesh->host.brick_lo[0] + 1,
                     mesh->host.brick_hi[1] - mesh->host.brick_lo[1] + 1,
                     mesh->host.brick_hi[2] - mesh->host.brick_lo[2] + 1);
    else
      utils::logmesg(lmp, "CACE long range: direct sum, {}{}, k-set pinned to the cell at step {}\n",
                     kset, how, update->ntimestep);
  }
}

void PairCACE::unpin_long_range()
{
  if (model) cace_model_unpin_long_range(model);
  pinned = 0;
  plan_mesh[0] = plan_mesh[1] = plan_mesh[2] = 0;
  plan_order = 0;
  mesh.reset();
}

// (Re)builds the distributed mesh for the pinned plan with the current domain decomposition,
// or frees it when the plan is the direct sum. Collective.
void PairCACE::rebuild_mesh()
{
  mesh.reset();
  if (plan_order > 0) mesh = std::make_unique<CACEMesh>(lmp, this, plan_mesh, plan_order);
}

/* ----------------------------------------------------------------------
   the subdomains changed (fix balance, balance): the mesh bricks must follow them
------------------------------------------------------------------------- */

void PairCACE::reset_grid()
{
  if (mesh) rebuild_mesh();
}

/* ----------------------------------------------------------------------
   Grid3d callbacks of the mesh exchanges: `list` holds offsets into the brick being exchanged
   (CACEMesh::data), one double per mesh point
------------------------------------------------------------------------- */

void PairCACE::pack_forward_grid(int /*which*/, void *vbuf, int n, int *list)
{
  auto *buf = static_cast<double *>(vbuf);
  const double *data = mesh->data;
  for (int i = 0; i < n; i++) buf[i] = data[list[i]];
}

void PairCACE::unpack_forward_grid(int /*which*/, void *vbuf, int n, int *list)
{
  const auto *buf = static_cast<const double *>(vbuf);
  double *data = mesh->data;
  for (int i = 0; i < n; i++) data[list[i]] = buf[i];
}

void PairCACE::pack_reverse_grid(int /*which*/, void *vbuf, int n, int *list)
{
  auto *buf = static_cast<double *>(vbuf);
  const double *data = mesh->data;
  for (int i = 0; i < n; i++) buf[i] = data[list[i]];
}

void PairCACE::unpack_reverse_grid(int /*which*/, void *vbuf, int n, int *list)
{
  const auto *buf = static_cast<const double *>(vbuf);
  double *data = mesh->data;
  for (int i = 0; i < n; i++) data[list[i]] += buf[i];
}

/* ----------------------------------------------------------------------
   per-atom exchanges requested by the library: rows of `width` doubles, or of `width` floats
   (precision single) that travel two to a double of LAMMPS' buffers, copied as bytes
------------------------------------------------------------------------- */

void PairCACE::exchange(double *data, int width, bool reverse)
{
  exchange_rows(data, width, false, reverse);
}

void PairCACE::exchange(float *data, int width, bool reverse)
{
  exchange_rows(data, width, true, reverse);
}

void PairCACE::exchange_rows(void *data, int width, bool floats, bool reverse)
{
  // called from inside the Swift library: must not throw, so a bad width is reported afterwards
  // (the width is a model property, so every rank skips the same exchanges)
  if (width <= 0) return;
  const int slots = floats ? (width + 1) / 2 : width;
  if (slots > (reverse ? comm_reverse : comm_forward)) {
    bad_width = width;
    return;
  }
  xrows = static_cast<char *>(data);
  xwidth = width;
  xslots = slots;
  xfloats = floats;
  if (reverse)
    comm->reverse_comm(this, slots);
  else
    comm->forward_comm(this, slots);
  xrows = nullptr;
}

/* ----------------------------------------------------------------------
   comm sizes: the model's exchange width; a committee's force deviation folds 3K doubles per
   ghost atom into its owner
------------------------------------------------------------------------- */

void PairCACE::set_comm_sizes()
{
  comm_forward = comm_reverse = cace_model_exchange_width(model);
  comm_reverse = std::max(comm_reverse, 3 * cace_model_committee_size(model));
}

void PairCACE::sum_over_ranks(double *data, int count)
{
  if (comm->nprocs > 1) MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_DOUBLE, MPI_SUM, world);
}

/* ---------------------------------------------------------------------- */

// A row is xwidth values of 8 or 4 bytes, and takes xslots doubles of a buffer.

int PairCACE::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  const size_t bytes = xwidth * (xfloats ? sizeof(float) : sizeof(double));
  for (int i = 0; i < n; i++) memcpy(buf + i * xslots, xrows + list[i] * bytes, bytes);
  return n * xslots;
}

void PairCACE::unpack_forward_comm(int n, int first, double *buf)
{
  const size_t bytes = xwidth * (xfloats ? sizeof(float) : sizeof(double));
  for (int i = 0; i < n; i++) memcpy(xrows + (first + i) * bytes, buf + i * xslots, bytes);
}

int PairCACE::pack_reverse_comm(int n, int first, double *buf)
{
  const size_t bytes = xwidth * (xfloats ? sizeof(float) : sizeof(double));
  for (int i = 0; i < n; i++) memcpy(buf + i * xslots, xrows + (first + i) * bytes, bytes);
  return n * xslots;
}

// adds `width` values of type T from `source` (bytes of a comm buffer) to `row`
template <typename T> static void add_row(T *row, const char *source, size_t width)
{
  T value;
  for (size_t k = 0; k < width; k++) {
    memcpy(&value, source + k * sizeof(T), sizeof(T));
    row[k] += value;
  }
}

void PairCACE::unpack_reverse_comm(int n, int *list, double *buf)
{
  for (int i = 0; i < n; i++) {
    const char *source = reinterpret_cast<const char *>(buf + i * xslots);
    if (xfloats)
      add_row(reinterpret_cast<float *>(xrows) + list[i] * (size_t) xwidth, source, xwidth);
    else
      add_row(reinterpret_cast<double *>(xrows) + list[i] * (size_t) xwidth, source, xwidth);
  }
}

/* ----------------------------------------------------------------------
   warn (rank 0, once per pair_coeff and mass) when a type's mass is far from the standard
   atomic weight of the element it is mapped to: most likely the element order in pair_coeff
   does not match the type order of the data file. Not an error: isotopes (D for H) and coarse
   masses are legitimate. Per-atom masses (rmass) are not checked.
------------------------------------------------------------------------- */

void PairCACE::check_masses()
{
  if (atom->rmass_flag || !atom->mass || !atom->mass_setflag) return;
  const int ntypes = atom->ntypes;
  if ((int) mass_checked.size() != ntypes + 1)
    mass_checked.assign(ntypes + 1, std::numeric_limits<double>::quiet_NaN());
  for (int t = 1; t <= ntypes; t++) {
    if (species[t] < 0 || !atom->mass_setflag[t]) continue;
    const double m = atom->mass[t];
    if (m == mass_checked[t]) continue;    // this mass was already looked at (and maybe reported)
    mass_checked[t] = m;
    const int z = cace_model_atomic_number(model, species[t]);
    if (z <= 0 || z >= NMASSES) continue;
    const double m0 = MASSES[z];
    if (std::fabs(m - m0) > MASS_TOLERANCE * m0 && comm->me == 0)
      error->warning(FLERR,
                     "Atom type {} is mapped to {} ({:.2f} g/mol) but has mass {:g}: check the "
                     "element order in pair_coeff; if this is intended (isotopes, coarse masses) "
                     "ignore this warning",
                     t, symbol_of(z), m0, m);
  }
}

/* ----------------------------------------------------------------------
   last line of defence after the library call: a non-finite energy, virial or force must not
   reach the integrator and thermo output as if it were a result. One pass over the force rows
   (owned and ghost: ghost rows are added to their owners by the reverse communication that
   follows), with a branch-free accumulation; the offending row is searched only on failure.
------------------------------------------------------------------------- */

void PairCACE::check_finite(int nall, double energy, const double *vir)
{
  if (!std::isfinite(energy))
    error->one(FLERR, "CACE evaluation returned a non-finite energy ({})", energy);
  static const char *const component[6] = {"xx", "yy", "zz", "xy", "xz", "yz"};
  for (int k = 0; k < 6; k++)
    if (!std::isfinite(vir[k]))
      error->one(FLERR, "CACE evaluation returned a non-finite virial ({} = {})", component[k],
                 vir[k]);
  if (nall == 0) return;
  const double *f = &atom->f[0][0];
  const int n = 3 * nall;
  bool finite = true;
  for (int k = 0; k < n; k++) finite &= std::isfinite(f[k]);
  if (finite) return;
  // atom->f is shared: under pair_style hybrid it holds the sub-styles computed before this one
  const char *shared = force->pair == this
      ? ""
      : " (the forces include those of the pair_style hybrid sub-styles computed before cace)";
  for (int i = 0; i < nall; i++) {
    const double *fi = atom->f[i];
    if (std::isfinite(fi[0]) && std::isfinite(fi[1]) && std::isfinite(fi[2])) continue;
    const double *xi = atom->x[i];
    error->one(FLERR,
               "CACE evaluation returned a non-finite force ({} {} {}) on atom ID {}{} at "
               "position ({} {} {}){}",
               fi[0], fi[1], fi[2], atom->tag[i], i < atom->nlocal ? "" : " (ghost image)", xi[0],
               xi[1], xi[2], shared);
  }
}

/* ---------------------------------------------------------------------- */

void PairCACE::check_units()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style cace requires 'units metal'");
}

void PairCACE::apply_settings()
{
  char err[ERRLEN] = "";
  if (cace_model_set_threads(model, nthreads, err, sizeof(err)) != CACE_OK)
    error->all(FLERR, "pair_style cace threads {}: {}", nthreads, err);
  if (cace_model_set_precision(model, single_precision, err, sizeof(err)) != CACE_OK)
    error->all(FLERR, "pair_style cace precision single: {}", err);

  // the long-range method: the library checks the accuracy's range and refuses 'mesh' for a
  // model without a long-range term. 'direct' or 'auto' (the default) with such a model only
  // have nothing to do, so they are a warning when given explicitly.
  static const char *const method_name[3] = {"auto", "direct", "mesh"};
  if (long_range || lr_method == CACE_LONG_RANGE_MESH) {
    if (cace_model_set_long_range(model, lr_method, lr_accuracy, err, sizeof(err)) != CACE_OK)
      error->all(FLERR, "pair_style cace long_range {}{}: {}", method_name[lr_method],
                 lr_accuracy != 0.0 ? fmt::format(" accuracy {:g}", lr_accuracy) : "", err);
  } else if (lr_given && comm->me == 0) {
    error->warning(FLERR,
                   "pair_style cace long_range/accuracy ignored: the model has no long-range term");
  }
  if (long_range && lr_method == CACE_LONG_RANGE_DIRECT && lr_accuracy != 0.0 && comm->me == 0)
    error->warning(FLERR, "pair_style cace accuracy {:g} ignored: it sizes the mesh, and "
                          "long_range direct sums the k-vectors exactly", lr_accuracy);
  // the library may have dropped its pinned k-set with the new settings: pin again before the
  // next force call
  unpin_long_range();
}
