/* -*- c++ -*- ----------------------------------------------------------
   pair_style cace: geometry checks of the LAMMPS side (atom IDs, the box since the last
   neighbour list build), kept apart from the force call in pair_cace.cpp.
------------------------------------------------------------------------- */

#include "pair_cace.h"

#include "atom.h"
#include "cace.h"
#include "domain.h"
#include "error.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

namespace {

// smallest eigenvalue of the symmetric 3x3 matrix a (row-major), by the trigonometric
// closed form for the roots of its characteristic polynomial
double smallest_eigenvalue(const double a[9])
{
  const double p1 = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
  const double q = (a[0] + a[4] + a[8]) / 3.0;
  if (p1 == 0.0) return std::min({a[0], a[4], a[8]});
  const double p2 = (a[0] - q) * (a[0] - q) + (a[4] - q) * (a[4] - q) + (a[8] - q) * (a[8] - q) +
      2.0 * p1;
  const double p = std::sqrt(p2 / 6.0);
  double b[9];
  for (int k = 0; k < 9; k++) b[k] = (a[k] - (k % 4 == 0 ? q : 0.0)) / p;
  const double det = b[0] * (b[4] * b[8] - b[5] * b[7]) - b[1] * (b[3] * b[8] - b[5] * b[6]) +
      b[2] * (b[3] * b[7] - b[4] * b[6]);
  const double r = std::clamp(det / 2.0, -1.0, 1.0);
  const double phi = std::acos(r) / 3.0;
  return q + 2.0 * p * std::cos(phi + 2.0 * M_PI / 3.0);
}

// LAMMPS's h = (xprd, yprd, zprd, yz, xz, xy) as the upper-triangular matrix whose columns are
// the edge vectors a, b, c
void cell_matrix(const double *h, double m[9])
{
  const double c[9] = {h[0], h[5], h[4], 0.0, h[1], h[3], 0.0, 0.0, h[2]};
  std::copy(c, c + 9, m);
}

}    // namespace

/* ----------------------------------------------------------------------
   The neighbour list and the ghost atoms were gathered within cutneighmax (the model's cutoff
   plus the skin) of the box as it was at the last build. If the box has since been compressed
   (fix npt, fix deform) while the list was kept (neigh_modify every N / check no / once), pairs
   beyond that reach may now be inside the cutoff and are missing: the forces would be wrong
   without any sign. Message passing needs nothing more than this one shell (ghosts receive their
   features from their owners), but a missing neighbour then corrupts the features it passes on.
   Atoms move affinely with the box, so no distance has shrunk by more than the smallest singular
   value s of F = h_now h_build^-1; the list is complete while s * cutneighmax >= cutoff (the
   skin also covers the atoms' own motion, which LAMMPS's neighbour check watches). A 3x3
   eigenvalue per step; the box is the same on every rank, so every rank stops together.
------------------------------------------------------------------------- */

void PairCACE::check_box_reach()
{
  const double *h = domain->h;
  if (neighbor->ago == 0 || !reach_recorded) {
    std::copy(h, h + 6, h_build);
    reach_build = neighbor->cutneighmax;
    reach_recorded = 1;
    return;
  }
  bool same = true;
  for (int k = 0; k < 6; k++) same &= h[k] == h_build[k];
  if (same) return;

  double now[9], then[9];
  cell_matrix(h, now);
  cell_matrix(h_build, then);
  // F = now * then^-1; then is upper triangular with a positive diagonal
  const double inv[9] = {1.0 / then[0], -then[1] / (then[0] * then[4]),
                         (then[1] * then[5] - then[2] * then[4]) / (then[0] * then[4] * then[8]),
                         0.0, 1.0 / then[4], -then[5] / (then[4] * then[8]),
                         0.0, 0.0, 1.0 / then[8]};
  double f[9], ftf[9];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      f[3 * r + c] = 0.0;
      for (int k = 0; k < 3; k++) f[3 * r + c] += now[3 * r + k] * inv[3 * k + c];
    }
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      ftf[3 * r + c] = 0.0;
      for (int k = 0; k < 3; k++) ftf[3 * r + c] += f[3 * k + r] * f[3 * k + c];
    }
  const double shrink = std::sqrt(std::max(0.0, smallest_eigenvalue(ftf)));
  const double reach = shrink * reach_build;
  if (reach < cutoff)
    error->all(FLERR,
               "pair_style cace: the box has shrunk to {:.4g} of its size at the last neighbour "
               "list build (step {}), so the neighbour list and ghost atoms now reach only {:.4g} "
               "A, less than the model's cutoff {} A: forces would miss neighbours. Rebuild the "
               "list more often (neigh_modify every 1 delay 0 check yes) or use a larger skin",
               shrink, neighbor->lastcall, reach, cutoff);
}

/* ----------------------------------------------------------------------
   after the library refused the geometry: name the atoms by their IDs (the library knows only
   this rank's indices). Only on the error path, so it costs nothing in a normal step.
------------------------------------------------------------------------- */

void PairCACE::explain_geometry_failure(int nall, const char *err)
{
  double **x = atom->x;
  const tagint *tag = atom->tag;
  for (int i = 0; i < nall; i++)
    if (!std::isfinite(x[i][0]) || !std::isfinite(x[i][1]) || !std::isfinite(x[i][2]))
      error->one(FLERR,
                 "CACE evaluation failed: atom ID {}{} has a non-finite position ({} {} {}): the "
                 "simulation is unstable (a force or velocity blew up before this step)",
                 tag[i], i < atom->nlocal ? "" : " (ghost image)", x[i][0], x[i][1], x[i][2]);
  // the library refused a pair within its distance floor: that pair is this rank's closest
  if (std::strstr(err, "same position") || std::strstr(err, "closer than")) {
    double closest = INFINITY;
    int ci = -1, cj = -1;
    for (int ii = 0; ii < list->inum; ii++) {
      const int i = list->ilist[ii];
      if (atom_species[i] < 0) continue;
      const int *jlist = list->firstneigh[i];
      for (int jj = 0; jj < list->numneigh[i]; jj++) {
        const int j = jlist[jj] & NEIGHMASK;
        if (atom_species[j] < 0) continue;
        const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
        const double r2 = dx * dx + dy * dy + dz * dz;
        if (r2 < closest) closest = r2, ci = i, cj = j;
      }
    }
    if (ci >= 0)
      error->one(FLERR,
                 "CACE evaluation failed: atoms ID {} and ID {}{} are {:.4g} A apart ({}): check "
                 "the input structure, or the run became unstable",
                 tag[ci], tag[cj], cj >= atom->nlocal ? " (ghost image)" : "", std::sqrt(closest),
                 err);
  }
  error->one(FLERR, "CACE evaluation failed: {}", err);
}
