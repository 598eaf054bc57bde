"""Claim 6 (WCRI): the weakly coupled residual initialisation helps Elman RNNs.

Elman networks h_t = tanh(W h_{t-1} + U x_t + b) trained from four initialisations of W: WCRI
(W_0 = Lambda + eps W~, Lambda = mu I weakly subcritical, W~ ~ N(0, 1/N)), PyTorch's default uniform, Haar
orthogonal and the identity.  Same data, optimiser and budget.
"""
from __future__ import annotations

from . import _common as C

NAME = "wcri"
TITLE = "Weakly coupled residual initialisation (WCRI) for Elman RNNs"
CLAIM = ("Initialising an Elman RNN as a weakly coupled residual network (W_0 = Lambda + eps W~) improves its "
         "performance over the default, orthogonal and identity initialisations.")

INITS = ("wcri", "default", "orthogonal", "identity")
PRESETS = {
    "tiny": dict(tasks=["digits"], seeds=[0], mu=0.99, eps=0.05, activation="tanh"),
    "quick": dict(tasks=["digits", "adding"], seeds=[0, 1], mu=0.99, eps=0.05, activation="tanh"),
    "full": dict(tasks=["psmnist", "adding"], seeds=[0, 1], mu=0.99, eps=0.05, activation="tanh"),
}


def run(ctx, p):
    exp_dir = ctx.out_dir / NAME
    with C.Timer() as tm:
        pairs, notes = C.resolve_tasks(p["tasks"])
        tasks = [u for _, u in pairs]
        variants = [dict(model="elman", init=i, family="scaled_identity", mu=float(p["mu"]), eps=float(p["eps"]),
                         activation=p["activation"]) for i in INITS]
        recs = C.run_cells(ctx, exp_dir, C.train_cells(p, ctx.preset, tasks, variants, p["seeds"]))
        groups, vals = C.group_metrics(recs, tasks, "init", [(i, i) for i in INITS])
        hl = C.reference_lines(tasks)
        figs = [C.bar_panels(tasks, groups, "Elman RNN: initialisations", exp_dir / "wcri_inits.png", hlines=hl)]
    held, verdicts, numbers = (True if tasks else None), [], {"per_task": {}}
    for t in tasks:
        parts, ok_t = [], True
        numbers["per_task"][t] = {i: C.stats(vals[(t, i)])[:2] for i in INITS}
        for other in INITS[1:]:
            ok, margin, pooled = C.clearly_better(t, vals[(t, "wcri")], vals[(t, other)])
            ok_t = ok_t and ok
            parts.append(f"vs {other} {C.fmt(margin, 3)} (pooled std {C.fmt(pooled, 2)})")
            numbers["per_task"][t][f"wcri_minus_{other}"] = margin
        held = held and ok_t
        verdicts.append(f"{C.TASK_LABEL.get(t, t)}: WCRI improvement " + ", ".join(parts)
                        + f" -> {'holds' if ok_t else 'does not hold'}")
    header = ["task"] + list(INITS)
    rows = [[C.TASK_LABEL.get(t, t)] + [C.fmt_ms(*C.stats(vals[(t, i)])[:2]) for i in INITS] for t in tasks]
    criterion = ("on every task, WCRI's mean test metric beats each of the default, orthogonal and identity "
                 "initialisations by more than the pooled standard deviation over seeds.")
    verdict = "; ".join(verdicts) + "."
    ts = {t: C.train_settings(ctx.preset, t) for t in tasks}
    setup = (f"preset `{ctx.preset}`: Elman RNN, {p['activation']}, WCRI with Lambda = {p['mu']} I and eps = {p['eps']}; "
             f"seeds {p['seeds']}; "
             + "; ".join(f"{C.TASK_LABEL.get(t, t)}: N={s['N']}, {s['n_train']}/{s['n_val']}/{s['n_test']} "
                         f"train/val/test{', T=' + str(s['T']) if t == 'adding' else ''}, {s['epochs']} epochs Adam "
                         f"lr {s['lr']} (gradient clipping at norm 1)" for t, s in ts.items())
             + f"; trained parameters: {C.n_params_of(recs)}." + (" Data notes: " + "; ".join(notes) + "." if notes else ""))
    body = C.md_table(header, rows) + C.failure_note(recs)
    numbers.update(table_header=header, table_rows=rows, notes=notes)
    res = C.ExperimentResult(NAME, TITLE, CLAIM, criterion, held, verdict,
                             C.section(6, TITLE, CLAIM, setup, body, criterion, held, verdict, figs, NAME),
                             figs, numbers, tm.seconds, len(recs), len(C.failures(recs)))
    return C.finish(ctx, exp_dir, NAME, p, res)
