/* C ABI of the Swift CACE inference library (libcace_capi.so).
 *
 * The host (the LAMMPS pair style, or any other MD code) owns the atoms: it
 * passes the atoms it owns plus ghost atoms, a full neighbour list of the owned
 * atoms, and callbacks for the three collective operations a domain-decomposed
 * evaluation needs. Every function returns CACE_OK or an error code and writes a
 * one-line message into `err` (truncated to `err_len` bytes, NUL-terminated).
 * No function traps or exits on bad input. */
#ifndef CACE_H
#define CACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 3: cace_model_check_boundary, cace_compute_features. 4: cace_compute_structure.
 * 5: long-range methods (direct, mesh, auto), pinned k-sets, the host's distributed mesh.
 * 6: cace_host.forward_exchange_float and reverse_exchange_float. */
#define CACE_ABI_VERSION 6

typedef enum {
  CACE_OK = 0,
  CACE_ERR_IO = 1,          /* file missing or unreadable */
  CACE_ERR_FORMAT = 2,      /* malformed model file */
  CACE_ERR_UNSUPPORTED = 3, /* valid file, option this library does not implement */
  CACE_ERR_ARGUMENT = 4,    /* bad argument from the host */
  CACE_ERR_GEOMETRY = 5     /* the structure cannot be evaluated (e.g. coincident atoms) */
} cace_status;

typedef struct cace_model cace_model; /* opaque */

/* Collective operations supplied by the host. All three may be NULL for a
 * single-domain evaluation without ghost atoms that need updating. */
typedef struct cace_mesh_host cace_mesh_host; /* below */

typedef struct {
  void *context;
  /* Copy per-atom rows of `width` doubles from owners to their ghost copies:
   * data holds nall rows; rows of owned atoms are valid on entry. */
  void (*forward_exchange)(void *context, double *data, int width);
  /* Add the rows of ghost atoms to the rows of their owners (rows of ghosts are
   * left unspecified on exit). */
  void (*reverse_exchange)(void *context, double *data, int width);
  /* In-place sum of `count` doubles over all ranks. */
  void (*sum_over_ranks)(void *context, double *data, int count);
  /* The distributed mesh of the particle-mesh long-range method; NULL unless the model's plan
   * (cace_model_pin_long_range) chose the mesh. Without it a mesh plan uses the library's serial
   * FFT, which is right only for a single domain. */
  const cace_mesh_host *mesh;
  /* Optional (may be NULL): forward_exchange and reverse_exchange for rows of `width` floats,
   * the message-passing features of precision single. Without them the library copies those
   * rows into double rows for the two callbacks above and back, which costs time, not accuracy. */
  void (*forward_exchange_float)(void *context, float *data, int width);
  void (*reverse_exchange_float)(void *context, float *data, int width);
} cace_host;

/* Arrays of length 0 (a rank that owns no atoms) may be NULL. */
typedef struct {
  int nlocal;                     /* owned atoms: indices 0 ..< nlocal */
  int nall;                       /* owned + ghost atoms */
  const double *x;                /* [nall][3] positions */
  const int *species;             /* [nall] model element index (cace_model_element_index), -1 = not handled */
  int inum;                       /* number of owned atoms in the neighbour list */
  const int *ilist;               /* [inum] owned atom indices */
  const int *numneigh;            /* numneigh[i]: neighbours of atom i */
  int *const *firstneigh;         /* firstneigh[i][jj]: neighbour index, high bits masked with neighmask */
  int neighmask;                  /* LAMMPS NEIGHMASK, or -1 */
  /* Needed only by models with a long-range term: */
  int periodic;                   /* 1: periodic in all three directions, 0: open in all three */
  const double *cell;             /* [3][3] rows a, b, c (periodic only) */
  const int64_t *tag;             /* [nlocal] global atom ids 1..natoms (open boundaries only) */
  int64_t natoms;                 /* total number of atoms over all ranks (open boundaries only) */
} cace_system;

typedef struct {
  double energy;        /* out: energy of the owned atoms (without E0s unless include_e0) */
  double virial[6];     /* out: xx yy zz xy xz yz, W = -dE/d(strain), LAMMPS sign; this rank's share */
  double *forces;       /* [nall][3], added to (ghost rows must be reverse-communicated by the host) */
  double *atom_energy;  /* [nlocal] or NULL, overwritten */
  double *atom_virial;  /* [nall][6] or NULL, added to (ghost rows must be reverse-communicated) */
  int include_e0;       /* in: add per-element E0s of the model file to energies */
} cace_result;

int cace_abi_version(void);

int cace_model_load(const char *path, cace_model **out, char *err, size_t err_len);
void cace_model_free(cace_model *model);

double cace_model_cutoff(const cace_model *model);
int cace_model_num_elements(const cace_model *model);
/* Atomic number of element index `index`, or -1 if out of range. */
int cace_model_atomic_number(const cace_model *model, int index);
/* Element index of a chemical symbol ("O", "Si"), or -1 if the model does not know it. */
int cace_model_element_index(const cace_model *model, const char *symbol);
int cace_model_num_message_passing(const cace_model *model);
int cace_model_has_long_range(const cace_model *model);
/* The most doubles per atom passed to forward_exchange/reverse_exchange (0 without message
 * passing): the layers' A features; Bchi weights travel in narrower rows (1 or K C). */
int cace_model_exchange_width(const cace_model *model);
/* Worker threads used inside one call (default 1). */
int cace_model_set_threads(cace_model *model, int threads, char *err, size_t err_len);
/* Precision of the feature arithmetic: 0 = double (default), 1 = single (Float features;
 * positions, forces, virials and energy sums stay double; message-passing layers' features are
 * stored in Float and exchanged as double rows). */
int cace_model_set_precision(cace_model *model, int single, char *err, size_t err_len);

/* CACE_OK if the model can be evaluated in a box with these periodic flags (1 = periodic);
 * otherwise CACE_ERR_ARGUMENT and a message naming the boundaries that work (a long-range
 * term needs all periodic or all open). Collective-free: call it at setup. */
int cace_model_check_boundary(const cace_model *model, int xperiodic, int yperiodic, int zperiodic,
                              char *err, size_t err_len);

/* --- The long-range term: the direct k-sum or the particle-mesh sum (docs/long-range.md) ------ */

typedef enum {
  CACE_LONG_RANGE_AUTO = 0,   /* direct while atoms x k-vectors is below a stated threshold, else mesh */
  CACE_LONG_RANGE_DIRECT = 1, /* upstream's sum over k-vectors, bit-compatible with it */
  CACE_LONG_RANGE_MESH = 2    /* smooth particle-mesh Ewald over the same k-set */
} cace_long_range_method;

/* Method and mesh accuracy (relative RMS force error of the long-range forces against the direct
 * sum of the same k-set; 0 = the default). Refuses an accuracy out of range, or `mesh` for a
 * model without a long-range term, with a message. */
int cace_model_set_long_range(cace_model *model, int method, double accuracy, char *err, size_t err_len);

/* What the long-range term of a periodic cell needs (filled by cace_model_pin_long_range). */
typedef struct {
  int method;             /* CACE_LONG_RANGE_DIRECT or CACE_LONG_RANGE_MESH: what was chosen */
  int kmax[3];            /* N_a: integer vectors n with |n_a| <= N_a are candidates */
  int64_t kvector_count;  /* kept k-vectors (half of k-space) */
  int mesh[3];            /* mesh points along a, b, c (mesh only, else 0) */
  int order;              /* B-spline order p (mesh only): an atom at u_a = K_a s_a (s: fractional
                             coordinates from the mesh origin) spreads onto the points
                             floor(u_a) - p + 1 ... floor(u_a) along each axis */
  double accuracy;        /* the accuracy the mesh was sized for (mesh only) */
} cace_long_range_plan;

/* Fixes the k-set (the kept integer vectors n and, for the mesh, its size and order) from this
 * periodic cell (rows a, b, c) for every later cace_compute, until the next pin or unpin: the
 * energy is then a smooth function of the cell and the virial its exact strain derivative (NPT).
 * natoms: atoms over all ranks (auto's cost rule). Fills `plan`. Collective-free. */
int cace_model_pin_long_range(cace_model *model, const double *cell, int64_t natoms,
                              cace_long_range_plan *plan, char *err, size_t err_len);
/* Back to a k-set chosen from each evaluation's own cell (what cace_compute_structure does). */
void cace_model_unpin_long_range(cace_model *model);

/* The host's distributed mesh: each rank holds a brick of mesh points with ghost layers and a
 * part of the spectrum, and the host does the exchanges and the distributed 3-D FFT (LAMMPS:
 * Grid3d, Remap and FFT3d of the KSPACE package). A brick is a [z][y][x] array of doubles over
 * brick_lo ... brick_hi (inclusive, global point indices; ghost points may lie outside
 * 0 ... mesh-1 and stand for their periodic images), axis a fastest. A spectrum is a [z][y][x]
 * array of complex numbers (re, im) over spectrum_lo ... spectrum_hi (inside 0 ... mesh-1). */
struct cace_mesh_host {
  void *context;
  int mesh[3];                         /* global mesh points: must equal the pinned plan's */
  int brick_lo[3], brick_hi[3];        /* owned + ghost points of this rank */
  int spectrum_lo[3], spectrum_hi[3];  /* this rank's part of the spectrum */
  const double *origin;                /* [3] Cartesian position of mesh point (0,0,0) (LAMMPS boxlo); read at each call */
  /* Add the values of every ghost point into the point that owns it. */
  void (*sum_ghosts)(void *context, double *brick);
  /* Copy the values of owned points onto every ghost point that stands for them. */
  void (*fill_ghosts)(void *context, double *brick);
  /* Owned points of brick -> spectrum: F(m) = sum_g f(g) exp(-2 pi i sum_a m_a g_a / K_a), unnormalised. */
  void (*forward)(void *context, const double *brick, double *spectrum);
  /* spectrum -> owned points of brick: f(g) = Re sum_m F(m) exp(+2 pi i sum_a m_a g_a / K_a), unnormalised. */
  void (*backward)(void *context, const double *spectrum, double *brick);
};

int cace_compute(cace_model *model, const cace_system *system, const cace_host *host,
                 cace_result *result, char *err, size_t err_len);

/* The descriptor API: invariant features B of the owned atoms in the neighbour list, and
 * optionally their Jacobians with respect to each edge vector r = x_i - x_j (receiver i,
 * sender j). The arrays belong to the library until cace_features_release. */
typedef struct {
  int feature_count;            /* F0 = M Q C layer-0 features per atom, upstream order */
  int atom_count;               /* described atoms (owned, listed, element index >= 0) */
  const int *atoms;             /* [atom_count] their indices */
  const double *features;       /* [atom_count][feature_count] */
  int64_t edge_count;           /* edges with derivatives (0 without) */
  const int *edge_receiver;     /* [edge_count] */
  const int *edge_sender;       /* [edge_count] index of the sender among the host's atoms */
  const double *edge_vector;    /* [edge_count][3] r = x_i - x_j */
  const double *jacobian;       /* [edge_count][feature_count][3] dB_i/dr, or NULL */
  int stacked_feature_count;    /* models with message passing: F0 (T+1), else 0 */
  const double *stacked_features; /* [atom_count][stacked_feature_count] read-out input, or NULL */
  void *internal;               /* owned by the library */
} cace_features;

/* Fills `out`; derivatives = 1 adds the Jacobians. With message passing it runs one full
 * evaluation through the host's callbacks (collective). Release with cace_features_release. */
int cace_compute_features(cace_model *model, const cace_system *system, const cace_host *host,
                          int derivatives, cace_features *out, char *err, size_t err_len);
void cace_features_release(cace_features *features);

/* A whole structure, every atom and no ghosts (what one frame of extended XYZ or an ASE Atoms
 * holds). cace_compute_structure wraps the atoms into the cell along periodic directions, adds
 * the periodic images within the cutoff and builds the neighbour list with a cell list, as
 * `cace evaluate` does: any triclinic cell, mixed pbc, cells smaller than the cutoff. */
typedef struct {
  int natoms;
  const double *positions;        /* [natoms][3], Angstrom */
  const double *cell;             /* [3][3] rows a, b, c; may be NULL when no direction is periodic */
  int pbc[3];                     /* 1: periodic along a, b, c */
  /* Exactly one of the two identifies the elements: */
  const int *atomic_numbers;      /* [natoms] atomic numbers, or NULL */
  const int *species;             /* [natoms] element indices 0 ..< cace_model_num_elements, or NULL */
} cace_structure;

typedef struct {
  int include_e0;                 /* in: add per-element E0s of the model file to the energies */
  double energy;                  /* out: total energy */
  double long_range_energy;       /* out: the long-range (Ewald) part of energy, 0 without */
  double virial[6];               /* out: xx yy zz xy xz yz, W = -dE/d(strain), eV (stress = -W/V) */
  double *forces;                 /* [natoms][3] or NULL; overwritten (images folded onto their atoms) */
  double *atom_energy;            /* [natoms] or NULL; overwritten */
  double *atom_virial;            /* [natoms][6] or NULL; overwritten, images folded: they sum to virial */
} cace_structure_result;

/* Evaluates a whole structure as a single domain (no host callbacks). On error nothing in
 * `result` is meaningful. Not thread-safe for one model: serialise calls on a model. */
int cace_compute_structure(cace_model *model, const cace_structure *structure, cace_structure_result *result,
                           char *err, size_t err_len);

/* --- Committees (models fitted with `cace fit --committee K`, docs/fitting.md) -------------- */

/* Members K of the model's committee, 0 without one. */
int cace_model_committee_size(const cace_model *model);

typedef struct {
  double energy_sigma;        /* out: standard deviation of the members' total energies (eV) */
  double *atom_energy_sigma;  /* [natoms] or NULL: standard deviation of each atom's energy (eV) */
  double *force_deviation;    /* [natoms] or NULL: sqrt(sum_k |F_i^k - mean F_i|^2 / (K - 1)) (eV/A) */
} cace_committee_spread;

/* The committee's spread for a whole structure (as cace_compute_structure takes it): one
 * feature evaluation with Jacobians serves every member. CACE_ERR_ARGUMENT without a committee. */
int cace_compute_committee_spread(cace_model *model, const cace_structure *structure, cace_committee_spread *out,
                                  char *err, size_t err_len);

/* The committee's spread of each owned atom's energy in a host's domain (as cace_compute takes
 * it): atom_energy_sigma[i], i < nlocal (0 for atoms with species -1). A forward pass of the
 * features only; LAMMPS asks for it on the steps `fix pair` needs it. CACE_ERR_ARGUMENT without
 * a committee. */
int cace_compute_committee_atom_spread(cace_model *model, const cace_system *system, const cace_host *host,
                                       double *atom_energy_sigma, char *err, size_t err_len);

/* The committee's force deviation of each owned atom in a host's domain (added to ABI 5 without a
 * version change: an additional function, which no existing caller declares):
 * force_deviation[i] = sqrt(sum_k |F_i^k - mean F_i|^2 / (K - 1)), i < nlocal (0 for atoms with
 * species -1), as cace_committee_spread.force_deviation. The edges' feature Jacobians are
 * contracted with every member; ghost rows are folded into their owners by one
 * host->reverse_exchange of 3K doubles per atom (the host must accept that width). About one
 * Jacobian pass: LAMMPS asks for it on the steps `fix pair` needs it. CACE_ERR_ARGUMENT without
 * a committee. */
int cace_compute_committee_force_deviation(cace_model *model, const cace_system *system, const cace_host *host,
                                           double *force_deviation, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* CACE_H */
