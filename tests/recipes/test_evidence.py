"""The evidence page (recipes.evidence): each stored summary's table with its command, commit and machine, per-seed
files combined into one table, the papers' claims against the per-seed differences, and the committed page equal to
what the stored summaries give."""

import json

import pytest

from recipes import evidence, report
from tests.recipes.test_report import METRICS, _stat


def test_evidence_tables_name_their_run_and_match_the_stored_docs(tmp_path, monkeypatch):
    # A stored summary: the method's table with the command, commit, machine and seeds of its run.
    folder = tmp_path / "results"
    folder.mkdir()
    stored = dict(METRICS["hgr"], command="'python -m recipes.hgr_zero_shot' --seeds 0,1", commit="abc1234",
                  machine="AMD EPYC, 2 CPU cores", seconds=600.0, args={"seeds": [0, 1]})
    (folder / "hgr_2seeds.json").write_text(json.dumps(stored))
    (folder / "notes.json").write_text(json.dumps({"command": "python -m benchmarks.rgcn"}))  # not a recipe: skipped
    report.main(["--evidence", str(folder)])
    text = (folder / "README.md").read_text()
    assert "## HGR-Net: hierarchical InfoNCE for zero-shot classification: `hgr_2seeds.json`" in text
    assert ("Seeds 0, 1. Command `'python -m recipes.hgr_zero_shot' --seeds 0,1`; commit abc1234; machine AMD EPYC, "
            "2 CPU cores; 10 minutes recorded.") in text
    assert "**HGR − flat, Hit@1: +15.00 points.**" in text and "notes.json" not in text
    # Seeds run apart (`hiernet_x_seedS.json`, each a seed's metrics.json) make one table, mean ± sd over them.
    for seed, (backbone, slow) in enumerate(((0.80, 0.825), (0.82, 0.815))):
        one = dict(METRICS["hiernet"], backbone_accuracy=backbone, hiernet_slow_accuracy=slow, seed=seed,
                   backbone="resnet8_x0.5",
                   command=f"'python -m recipes.hiernet' --seeds {seed}", commit=f"c{seed}", machine="M",
                   seconds=60.0 * (seed + 1), note="evaluated from its checkpoints" if seed == 0 else None)
        (folder / f"hiernet_x_seed{seed}.json").write_text(json.dumps(one))
    (folder / "hiernet_y_seed2.json").write_text(json.dumps(dict(  # one seed of a multi-seed run
        METRICS["hiernet"], seed=2, command="'python -m recipes.hiernet' --seeds 0,1,2", args={"seeds": [0, 1, 2]})))
    report.main(["--evidence", str(folder)])
    text = (folder / "README.md").read_text()
    assert "Seeds 2. Command `'python -m recipes.hiernet' --seeds 0,1,2`" in text
    assert "## HierNet: a tree CNN cut from a backbone: `hiernet_x_seed*.json`" in text
    assert ("Seeds 0, 1. Seed 0: command `'python -m recipes.hiernet' --seeds 0`; commit c0; machine M; 1 minutes "
            "recorded (evaluated from its checkpoints). Seed 1: command `'python -m recipes.hiernet' --seeds 1`; "
            "commit c1; machine M; 2 minutes recorded.") in text
    # 0.80, 0.82 -> 81.00 ± 1.41; 0.825, 0.815 -> 82.00 ± 0.71; slow − backbone +1.00, fast − backbone 0.00.
    assert "| ResNet-8 at width 0.5 backbone (same training budget) | 81.00 ± 1.41 |" in text
    assert "| HierNet, slow (all paths) | 82.00 ± 0.71 |" in text
    assert "**HierNet slow − backbone: +1.00 points.**" in text and "HierNet fast − backbone: +0.00 points." in text
    assert "| HierNet slow | 82.50 | 92.00 | 2.250 | 2.600 |" in text  # the same rows in both files
    assert "Groups from the CPM (classes alone not listed): Shirt, Coat." in text
    # Seeds of runs with other flags are not one table's: refused, naming the flag (not the seeds or the output).
    for seed, layers in ((0, 2), (1, 4)):
        (folder / f"hiernet_mixed_seed{seed}.json").write_text(json.dumps(dict(
            METRICS["hiernet"], seed=seed, command="'python -m recipes.hiernet'",
            args={"seeds": [seed], "output": f"o{seed}", "classifier_layers": layers})))
    with pytest.raises(ValueError, match="hiernet_mixed_seed0.json and hiernet_mixed_seed1.json .*--classifier-layers"):
        evidence.write_evidence(str(folder))
    for seed in (0, 1):
        (folder / f"hiernet_mixed_seed{seed}.json").unlink()
    # At a glance: per-seed differences; HierNet fast − backbone 81 − 80 = +1, 81 − 82 = −1: +0.00 ± 1.41, noise;
    # HGR's one seed: +15.00, not judged.
    assert ("| `hiernet_x_seed*.json` | A tree of branches cut from a backbone, grouped by its confusions, classifies "
            "better than the backbone trained as long | HierNet fast − backbone, test accuracy | +0.00 ± 1.41 (2 seeds) "
            "| within noise |") in text
    assert "| HierNet slow − backbone, test accuracy | +1.00 ± 2.12 (2 seeds) | within noise |" in text
    assert evidence.claim_verdict([1.0, 2.0, 1.5]) == "yes" and evidence.claim_verdict([-3.0, -2.0]) == "no"
    # Long tail: the first loss's seeds, ensemble − cosine classifier per seed (few 0.40 − 0.00, 0.30 − 0.10).
    ensemble = "ensemble(w^h(0), w^h(20), w^h(100))"
    runs = [{"seed": seed, "loss": loss, "table": {"Cosine classifier": {"few": cosine, "total": 0.8},
                                                   ensemble: {"few": few, "total": 0.81}}}
            for loss in ("ce", "balanced_softmax") for seed, cosine, few in ((0, 0.0, 0.4), (1, 0.1, 0.3))]
    (folder / "long_tail_2seeds.json").write_text(json.dumps(dict(
        METRICS["long_tail"], runs=runs, command="'python -m recipes.long_tail' --seeds 0,1", args={"seeds": [0, 1]})))
    report.main(["--evidence", str(folder)])
    text = (folder / "README.md").read_text()
    assert "| ensemble − cosine classifier, few-shot | +30.00 ± 14.14 (2 seeds) | yes |" in text
    assert "| ensemble − cosine classifier, all classes | +1.00 ± 0.00 (2 seeds) | yes |" in text
    # HIRL: HIRL − base and base − untrained encoder, per seed.
    runs = [{"seed": s, "model": model, "knn_top1": knn, "linear_probe": 0.8}
            for s, base, hirl in ((0, 0.80, 0.82), (1, 0.81, 0.80)) for model, knn in (("MoCo v2", base),
                                                                                     ("HIRL-MoCo v2", hirl))]
    summary = {n: {k: _stat(0.8) for k in ("knn_top1", "linear_probe")} for n in ("MoCo v2", "HIRL-MoCo v2")}
    untrained = {"runs": [{"seed": s, "model": "untrained", "knn_top1": 0.7, "linear_probe": 0.6} for s in (0, 1)],
                 "summary": {"knn_top1": _stat(0.7), "linear_probe": _stat(0.6)}}
    (folder / "hirl_2seeds.json").write_text(json.dumps(dict(
        runs=runs, summary=summary, untrained=untrained, command="'python -m recipes.hirl' --seeds 0,1")))
    report.main(["--evidence", str(folder)])
    text = (folder / "README.md").read_text()
    assert "| HIRL − base, k-NN top-1 | +0.50 ± 2.12 (2 seeds) | within noise |" in text  # +2, −1
    assert "| base − untrained encoder, k-NN top-1 | +10.50 ± 0.71 (2 seeds) | yes |" in text
    assert "| untrained encoder (same seeds) | 70.00 | 60.00 |" in text
    with pytest.raises(SystemExit, match="No folder"):
        report.main(["--evidence", str(tmp_path / "missing")])
    # The committed evidence page is what the stored summaries give.
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    rebuilt = evidence.write_evidence("docs/results/issue39", str(tmp_path / "issue39.md"))
    with open(rebuilt) as f, open("docs/results/issue39/README.md") as g:
        assert f.read() == g.read()


def test_a_section_without_the_papers_difference_still_states_its_budget(tmp_path):
    """A multi-label run of the graph variants only (no visual-semantic baseline: no headline difference)."""
    stored = dict(METRICS["multilabel_zsl"], command="'python -m recipes.multilabel_zsl' --variants rgcn_posvae",
                  budgets={"rgcn_posvae": [{"steps": 10, "optimizer": {"class_name": "Adam", "config": {}}}]})
    stored["summary"] = {"rgcn_posvae": stored["summary"]["rgcn_posvae"]}
    (tmp_path / "graph_only.json").write_text(json.dumps(stored))
    text = open(evidence.write_evidence(str(tmp_path))).read()
    assert "RGCN + PosVAE − visual-semantic" not in text
    assert "Training budget: rgcn_posvae each trained 10 steps, on the same schedules." in text
