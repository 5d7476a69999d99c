/* ----------------------------------------------------------------------
   pair_style cace: Cartesian atomic cluster expansion (CACE) potentials.

   This file is glue only: it hands LAMMPS' atoms, ghost atoms and full neighbour list to the
   Swift library (C ABI in cace.h) and lets the library call back into LAMMPS for the forward /
   reverse communication that message-passing layers need and for sums over ranks.
------------------------------------------------------------------------- */

#include "pair_cace.h"

#include "cace.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cstring>
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

void sum_cb(void *ctx, double *data, int count)
{
  static_cast<PairCACE *>(ctx)->sum_over_ranks(data, count);
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
  cutoff = 0.0;
  species = nullptr;
  nmax = 0;
  atom_species = nullptr;
  tag64 = nullptr;
  xbuf = nullptr;
  xwidth = 0;
  bad_width = 0;
}

/* ---------------------------------------------------------------------- */

PairCACE::~PairCACE()
{
  if (copymode) return;

  cace_model_free(model);
  memory->destroy(atom_species);
  memory->destroy(tag64);

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

  // restricted triclinic cell rows a, b, c; h = (xprd, yprd, zprd, yz, xz, xy)
  const double *h = domain->h;
  const double cell[9] = {h[0], 0.0, 0.0, h[5], h[1], 0.0, h[4], h[3], h[2]};
  const int periodic = domain->xperiodic && domain->yperiodic && domain->zperiodic;
  // open boundaries: the library places atom i in slot tag[i] of 1..natoms, so pass the largest
  // atom ID rather than the atom count (IDs may have gaps, e.g. after delete_atoms compress no)
  int64_t slots = atom->natoms;
  if (!periodic) {
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
  sys.tag = nlocal ? tag64 : no_tags;
  sys.natoms = slots;

  cace_host host;
  host.context = this;
  host.forward_exchange = forward_cb;
  host.reverse_exchange = reverse_cb;
  host.sum_over_ranks = sum_cb;

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
  if (status != CACE_OK) error->one(FLERR, "CACE evaluation failed: {}", err);

  if (eflag_global) eng_vdwl += res.energy;
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += res.virial[k];
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
------------------------------------------------------------------------- */

void PairCACE::settings(int narg, char **arg)
{
  check_units();

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
    } else {
      error->all(FLERR,
                 "Unknown pair_style cace keyword '{}' (known: threads N, precision double|single, "
                 "e0 yes|no)",
                 arg[iarg]);
    }
  }
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
  apply_settings();

  std::string names;
  const int nel = cace_model_num_elements(model);
  for (int e = 0; e < nel; e++)
    names += (e ? " " : "") + symbol_of(cace_model_atomic_number(model, e));

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

  comm_forward = comm_reverse = cace_model_exchange_width(model);
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "CACE model: elements {}, cutoff {} A, {} message-passing layer(s), "
                   "long range {}, {} thread(s), {} precision\n",
                   names, cutoff, cace_model_num_message_passing(model),
                   cace_model_has_long_range(model) ? "yes" : "no", nthreads,
                   single_precision ? "single" : "double");
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

  // the long-range term is an Ewald sum (all periodic) or a direct sum (all open), nothing between
  const int nper = domain->xperiodic + domain->yperiodic + domain->zperiodic;
  if (cace_model_has_long_range(model) && nper != 0 && nper != 3)
    error->all(FLERR,
               "CACE model has a long-range term, which needs 'boundary p p p' or a fully "
               "non-periodic box ('boundary f f f' or s/m); mixed boundaries are not supported");

  // the library's exchanges go through LAMMPS' comm buffers, which are sized from these
  comm_forward = comm_reverse = cace_model_exchange_width(model);
  // Comm::init() (after Pair::init()) sizes the buffers from the top-level pair style only.
  // pair_style hybrid copies its sub-styles' comm sizes in its settings(), before pair_coeff
  // loaded the model (comm_forward was still 0 then), so raise the hybrid style's sizes here
  Pair *top = force->pair;
  if (top && top != this) {
    top->comm_forward = std::max(top->comm_forward, comm_forward);
    top->comm_reverse = std::max(top->comm_reverse, comm_reverse);
  }
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

/* ----------------------------------------------------------------------
   init for one type pair i,j and corresponding j,i
------------------------------------------------------------------------- */

double PairCACE::init_one(int /*i*/, int /*j*/)
{
  return cutoff;
}

/* ----------------------------------------------------------------------
   per-atom exchanges requested by the library: rows of xwidth doubles in xbuf
------------------------------------------------------------------------- */

void PairCACE::exchange(double *data, int width, bool reverse)
{
  // called from inside the Swift library: must not throw, so a bad width is reported afterwards
  // (the width is a model property, so every rank skips the same exchanges)
  if (width <= 0) return;
  if (width > comm_forward || width > comm_reverse) {
    bad_width = width;
    return;
  }
  xbuf = data;
  xwidth = width;
  if (reverse)
    comm->reverse_comm(this, width);
  else
    comm->forward_comm(this, width);
  xbuf = nullptr;
}

void PairCACE::sum_over_ranks(double *data, int count)
{
  if (comm->nprocs > 1) MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_DOUBLE, MPI_SUM, world);
}

/* ---------------------------------------------------------------------- */

int PairCACE::pack_forward_comm(int n, int *list, double *buf, int /*pbc_flag*/, int * /*pbc*/)
{
  const size_t w = xwidth;
  for (int i = 0; i < n; i++) memcpy(buf + i * w, xbuf + list[i] * w, w * sizeof(double));
  return n * xwidth;
}

void PairCACE::unpack_forward_comm(int n, int first, double *buf)
{
  const size_t w = xwidth;
  memcpy(xbuf + first * w, buf, n * w * sizeof(double));
}

int PairCACE::pack_reverse_comm(int n, int first, double *buf)
{
  const size_t w = xwidth;
  memcpy(buf, xbuf + first * w, n * w * sizeof(double));
  return n * xwidth;
}

void PairCACE::unpack_reverse_comm(int n, int *list, double *buf)
{
  const size_t w = xwidth;
  for (int i = 0; i < n; i++) {
    double *row = xbuf + list[i] * w;
    for (size_t k = 0; k < w; k++) row[k] += buf[i * w + k];
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
}
