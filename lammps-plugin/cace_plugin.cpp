/* ----------------------------------------------------------------------
   LAMMPS plugin entry point: registers pair_style cace ('plugin load caceplugin.so').
------------------------------------------------------------------------- */

#include "lammpsplugin.h"
#include "version.h"

#include "pair_cace.h"

using namespace LAMMPS_NS;

static Pair *cace_creator(LAMMPS *lmp)
{
  return new PairCACE(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  plugin.version = LAMMPS_VERSION;    // LAMMPS warns if the running version differs
  plugin.style = "pair";
  plugin.name = "cace";
  plugin.info = "CACE machine-learning potential (Swift library) v0.1";
  plugin.author = "pair-cace developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &cace_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
