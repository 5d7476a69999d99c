#!/usr/bin/env python3
"""Train a small CACE model on the SW silicon data with upstream CACE (CPU, float32).

    PYTHONPATH=/path/to/upstream-cace python train.py [settings.json]
    ... python train.py settings-continue.json --init data/silicon.pth   # continue training

The learning rate follows ReduceLROnPlateau, or, with "lr_final" in the settings, decays
exponentially from "lr" to "lr_final" over the time budget of both phases.

Two phases with a wall-time budget each (phase 2 weighs energies more). After every epoch the
validation energy/force RMSE is computed and the best model is saved to settings["output"];
the per-element reference energy E0 (least squares over the training set) goes to
data/e0.json, for `cace-export --e0-file`; the training figures go to metrics.json.
"""
import argparse
import json
import logging
import os
import time

import ase.io
import torch

import cace
from cace.models.atomistic import NeuralNetworkPotential
from cace.modules import Atomwise, BesselRBF, Forces, PolynomialCutoff
from cace.representations import Cace
from cace.tasks import GetLoss, TrainingTask
from cace.tools import Metrics

import sys  # noqa: E402
import importlib.util  # noqa: E402
_spec = importlib.util.spec_from_file_location("pair_cace_atomic", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "python", "pair_cace", "atomic.py"))
_atomic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_atomic)  # pair_cace/atomic.py of this checkout: files are written whole or not at all
atomic_write = _atomic.atomic_write
write_json = _atomic.write_json

HERE = os.path.dirname(os.path.abspath(__file__))


def rmse(model, loader):
    """Energy RMSE (eV/atom) and force RMSE (eV/A) of a model on a data loader."""
    de, df = [], []
    with torch.enable_grad():
        for batch in loader:
            d = batch.to_dict()
            out = model(d, training=False)
            n = torch.bincount(d["batch"]).to(out["CACE_energy"].dtype)
            de.append(((out["CACE_energy"] - d["energy"]) / n).detach())
            df.append((out["CACE_forces"] - d["forces"]).detach().flatten())
    de, df = torch.cat(de), torch.cat(df)
    return de.pow(2).mean().sqrt().item(), df.pow(2).mean().sqrt().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("settings", nargs="?", default=os.path.join(HERE, "settings.json"))
    ap.add_argument("--init", help="continue from this saved model instead of a new one")
    ap.add_argument("--lr", type=float, help="override the initial learning rate")
    ap.add_argument("--minutes", type=float, nargs=2, metavar=("P1", "P2"), help="override the phase budgets")
    args = ap.parse_args()
    cfg = json.load(open(args.settings))
    if args.lr:
        cfg["lr"] = args.lr
    if args.minutes:
        cfg["phase1"]["minutes"], cfg["phase2"]["minutes"] = args.minutes
    os.chdir(HERE)
    torch.set_default_dtype(getattr(torch, cfg["dtype"]))
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    cace.tools.setup_logger(level="WARNING", tag="train", directory="data")

    frames = ase.io.read(cfg["train"], ":")
    # single element: the least-squares E0 is the mean energy per atom
    e0 = {14: float(sum(a.get_potential_energy() for a in frames) / sum(len(a) for a in frames))}
    write_json("data/e0.json", {str(z): e for z, e in e0.items()})
    logging.info(f"E0 = {e0}")
    col = cace.tasks.get_dataset_from_xyz(train_path=cfg["train"], valid_fraction=cfg["valid_fraction"],
                                          seed=cfg["seed"], cutoff=cfg["cutoff"], atomic_energies=e0,
                                          data_key={"energy": "energy", "forces": "forces"})
    train = cace.tasks.load_data_loader(collection=col, data_type="train",
                                        batch_size=cfg["batch_size"])
    valid = cace.tasks.load_data_loader(collection=col, data_type="valid", batch_size=8)

    c = cfg["cutoff"]
    rep = Cace(zs=[14], n_atom_basis=cfg["n_atom_basis"], embed_receiver_nodes=True, cutoff=c,
               cutoff_fn=PolynomialCutoff(cutoff=c, p=cfg["cutoff_fn_p"]),
               radial_basis=BesselRBF(cutoff=c, n_rbf=cfg["n_rbf"], trainable=cfg["trainable_rbf"]),
               n_radial_basis=cfg["n_radial_basis"], max_l=cfg["max_l"], max_nu=cfg["max_nu"],
               num_message_passing=cfg["num_message_passing"],
               type_message_passing=cfg["type_message_passing"], device=torch.device("cpu"))
    head = Atomwise(n_layers=len(cfg["atomwise_hidden"]) + 1, n_hidden=cfg["atomwise_hidden"],
                    output_key="CACE_energy", use_batchnorm=False, add_linear_nn=True)
    model = NeuralNetworkPotential(input_modules=None, representation=rep,
                                   output_modules=[head, Forces(energy_key="CACE_energy", forces_key="CACE_forces")])
    if args.init:
        model = torch.load(args.init, weights_only=False)
    logging.info(f"{sum(p.numel() for p in model.parameters())} parameters")

    metrics = [Metrics("energy", "CACE_energy", name="e/atom", per_atom=True),
               Metrics("forces", "CACE_forces", name="f")]
    task = TrainingTask(model=model, losses=[], metrics=metrics, optimizer_args={"lr": cfg["lr"]},
                        scheduler_cls=torch.optim.lr_scheduler.ReduceLROnPlateau,
                        scheduler_args={"mode": "min", "factor": cfg["scheduler_factor"],
                                        "patience": 10 ** 9 if "lr_final" in cfg else cfg["scheduler_patience"]},
                        max_grad_norm=10, ema=True, ema_start=cfg["ema_start"], warmup_steps=5)

    best, history, t0, epoch = None, [], time.time(), 0
    total_minutes = cfg["phase1"]["minutes"] + cfg["phase2"]["minutes"]
    for phase in ("phase1", "phase2"):
        p = cfg[phase]
        task.update_loss([GetLoss("energy", "CACE_energy", loss_fn=torch.nn.MSELoss(), loss_weight=p["energy_weight"]),
                          GetLoss("forces", "CACE_forces", loss_fn=torch.nn.MSELoss(), loss_weight=p["force_weight"])])
        t_end = time.time() + 60 * p["minutes"]
        if p["minutes"] <= 0:
            continue
        while time.time() < t_end:
            if "lr_final" in cfg:   # exponential decay over the whole budget instead of the plateau scheduler
                fraction = min(1.0, (time.time() - t0) / (60 * total_minutes))
                for group in task.optimizer.param_groups:
                    group["lr"] = cfg["lr"] * (cfg["lr_final"] / cfg["lr"]) ** fraction
            task.fit(train, valid, epochs=1, print_stride=0, checkpoint_path=None)
            epoch += 1
            current = task.ema_model.module if task.ema and task.global_step >= task.ema_start else task.model
            e, f = rmse(current, valid)
            score = p["energy_weight"] * e ** 2 * 64 ** 2 + p["force_weight"] * f ** 2   # ~ the loss
            history.append({"epoch": epoch, "phase": phase, "minutes": (time.time() - t0) / 60,
                            "valid_e_rmse_meV_atom": 1000 * e, "valid_f_rmse": f})
            print(f"{phase} epoch {epoch:4d}  {(time.time() - t0) / 60:5.1f} min  lr {task.optimizer.param_groups[0]['lr']:.2e}  "
                  f"valid E {1000 * e:7.2f} meV/atom  F {f:.4f} eV/A", flush=True)
            if best is None or score < best[0] or phase != best[1]:
                best = (score, phase, epoch, e, f)
                atomic_write(cfg["output"], lambda f: torch.save(current, f))
    _, _, ep, e, f = best
    # metrics.json: one entry per run (a run with --init is appended to the previous ones)
    run = {"init": args.init, "settings": cfg, "train_frames": len(col.train), "valid_frames": len(col.valid),
           "parameters": sum(p.numel() for p in model.parameters()), "e0": e0, "best_epoch": ep,
           "epochs": epoch, "minutes": round((time.time() - t0) / 60, 1),
           "valid_e_rmse_meV_atom": 1000 * e, "valid_f_rmse_eV_A": f, "history": history}
    runs = json.load(open("metrics.json"))["runs"] if args.init and os.path.exists("metrics.json") else []
    write_json("metrics.json", {"runs": runs + [run]}, indent=1)
    print(f"best model (epoch {ep}): valid E {1000 * e:.2f} meV/atom, F {f:.4f} eV/A -> {cfg['output']}")


if __name__ == "__main__":
    main()
