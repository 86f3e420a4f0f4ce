"""The demo report: a table per method from the recipes' metrics, the differences that matter, plots and
SavedModels listed when present, methods not run said so."""

import json

import pytest

from recipes import report


def _stat(mean):
    return {"mean": mean, "std": 0.0}


METRICS = {
    "hiernet": {"backbone_accuracy": 0.80, "hiernet_slow_accuracy": 0.825, "hiernet_fast_accuracy": 0.81,
                "groups": {"g1": ["Shirt", "Coat"], "Bag": ["Bag"]}, "seconds": 12.0, "metric_hierarchy": "WordNet",
                "hierarchical": {"backbone": {"accuracy": 0.80, "hierarchical_f1": 0.9, "mistake_severity": 2.5,
                                              "hierarchical_distance@5": 2.7},
                                 "HierNet fast": {"accuracy": 0.81, "hierarchical_f1": 0.91, "mistake_severity": 2.4},
                                 "HierNet slow": {"accuracy": 0.825, "hierarchical_f1": 0.92,
                                                  "mistake_severity": 2.25, "hierarchical_distance@5": 2.6}}},
    "hgr": {"summary": {"flat": {"hit@1": _stat(0.40), "tor": _stat(0.5)},
                        "hgr": {"hit@1": _stat(0.55), "tor": {"mean": 0.6, "std": 0.01}}},
            "seen": ["Bag"], "unseen": ["Shirt"], "split": "test"},
    "multilabel_zsl": {"summary": {"visual_semantic": {f"{s}_{m}": _stat(0.3) for s in ("seen", "unseen", "all")
                                                       for m in ("map", "miap")},
                                   "rgcn_posvae": {**{f"{s}_{m}": _stat(0.45) for s in ("seen", "unseen", "all")
                                                      for m in ("map", "miap")},
                                                   "unseen_miap_swapped_external": _stat(0.30),
                                                   "swapped_external_logit_change": _stat(0.25)}},
                       "unseen": ["Sandal"], "edges": 7, "external_classifier_accuracy": 0.9,
                       "args": {"external_probabilities": "oracle"}},
    "long_tail": {"summary": {"ce": {"Cosine classifier": {g: _stat(0.5) for g in ("many", "medium", "few", "total")},
                                     "ensemble(w^h(0), w^h(20), w^h(100))": {
                                         "many": _stat(0.5), "medium": _stat(0.5), "few": _stat(0.62),
                                         "total": _stat(0.55)}}}},
}


def test_report_tables_and_differences(tmp_path):
    (tmp_path / "hiernet" / "saved_model").mkdir(parents=True)
    (tmp_path / "hiernet" / "cpm.png").write_bytes(b"png")
    path = report.write_report(str(tmp_path), METRICS, seconds=90, intro="Intro.")
    text = open(path).read()
    assert text.startswith("# keras_hier demo report\n\n## At a glance")
    assert "The whole tour took 1.5 minutes." in text and "Intro." in text
    # HierNet: 82.5 - 80.0 = +2.50 points; the table as in the paper; the plot and the SavedModel that exist.
    assert "| ResNet-20 backbone (same training budget) | 80.00 |" in text
    assert "| HierNet, fast (routing) | 81.00 |" in text
    assert "**HierNet slow − backbone: +2.50 points.**" in text
    assert "![cpm.png](hiernet/cpm.png)" in text and "tree.png" not in text.split("## HGR-Net")[0]
    assert "SavedModel: `hiernet/saved_model`" in text and "SavedModel: `hgr/saved_model`" not in text
    # HGR: 55 - 40 = +15; a spread over seeds shows as ±.
    assert "| model | Hit@1 (%) | TOR (%) |" in text
    assert "| HGR-Net (hierarchical InfoNCE) | 55.00 | 60.00 ± 1.00 |" in text
    assert "**HGR − flat, Hit@1: +15.00 points.**" in text
    assert "**RGCN + PosVAE − visual-semantic, unseen miAP: +15.00 points.**" in text
    assert ("Swap test (each test image scored with another image's external probabilities): relational GCN + "
            "PosVAE, unseen miAP 45.00 with its own, 30.00 swapped (logits moved by 0.2500 of their spread).") in text
    assert "**External probabilities: the oracle's**" in text
    assert "few-shot (cross-entropy encoder): +12.00 points" in text
    assert "next to the paper's numbers: docs/hiernet.md." in text
    # HIRL was not run: listed, no table.
    assert text.split("## HIRL")[1].count("Not run in this tour.") == 1
    assert "| Long-tail compositional transfer | ensemble − cosine classifier, few-shot (cross-entropy encoder) " \
           "| +12.00 | – |" in text
    # The hierarchy-aware rows: a table under HierNet's, and the at-a-glance mistake severity, baseline → method.
    assert "| model | accuracy (%) | hF1 (%) | mistake severity | distance@5 |" in text
    assert "| backbone | 80.00 | 90.00 | 2.500 | 2.700 |" in text and "| HierNet fast | 81.00 | 91.00 | 2.400 | – |" in text
    assert "| HierNet | HierNet slow − backbone | +2.50 | 2.50 → 2.25 |" in text


def test_rebuild_from_metrics_files(tmp_path, capsys):
    (tmp_path / "hiernet").mkdir()
    (tmp_path / "hiernet" / "metrics.json").write_text(json.dumps(METRICS["hiernet"]))
    report.main([str(tmp_path)])
    text = (tmp_path / "report.md").read_text()
    assert "+2.50 points" in text and "Recipe time: 12 s." in text and text.count("Not run in this tour.") == 4
    assert "report.md" in capsys.readouterr().out
    # A folder without any run says so and fails, instead of writing a report of "Not run" sections.
    with pytest.raises(SystemExit, match="No runs in .*hiernet, .*recipes.demo --output"):
        report.main([str(tmp_path / "empty")])
    assert not (tmp_path / "empty").exists()


def test_training_budgets_are_stated_and_differences_flagged():
    sgd = {"class_name": "CoupledSGD", "config": {"learning_rate": 0.1, "weight_decay": 1e-4}}
    equal = {"backbone": [{"steps": 936, "optimizer": sgd}, {"steps": 468, "optimizer": sgd}],
             "hiernet": [{"steps": 936, "optimizer": sgd}, {"steps": 468, "optimizer": sgd}]}
    assert report.budget_sentence(equal) == ("Training budget: backbone, hiernet each trained 936 + 468 steps, on the "
                                             "same schedules.")
    longer = {**equal, "hiernet": [equal["hiernet"][0], {"steps": 500, "optimizer": sgd}]}
    assert report.budget_sentence(longer) == ("**Unequal training budgets: stage 2: hiernet trained 500 steps, "
                                              "backbone 468.**")
    restarted = {**equal, "hiernet": [equal["hiernet"][0], {"steps": 468, "optimizer": {
        **sgd, "config": {"learning_rate": 1.0, "weight_decay": 1e-4}}}]}
    assert "different optimizers or schedules" in report.budget_sentence(restarted)
    assert "1 stage(s)" in report.budget_sentence({**equal, "hiernet": equal["hiernet"][:1]})


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
    report.main(["--evidence", str(folder)])
    text = (folder / "README.md").read_text()
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
        report.write_evidence(str(folder))
    for seed in (0, 1):
        (folder / f"hiernet_mixed_seed{seed}.json").unlink()
    # At a glance: per-seed differences; HierNet fast − backbone 81 − 80 = +1, 81 − 82 = −1: +0.00 ± 1.41, noise;
    # HGR's one seed: +15.00, not judged.
    assert ("| `hiernet_x_seed*.json` | A tree of branches cut from a backbone, grouped by its confusions, classifies "
            "better than the backbone trained as long | HierNet fast − backbone, test accuracy | +0.00 ± 1.41 (2 seeds) "
            "| within noise |") in text
    assert "| HierNet slow − backbone, test accuracy | +1.00 ± 2.12 (2 seeds) | within noise |" in text
    assert report.claim_verdict([1.0, 2.0, 1.5]) == "yes" and report.claim_verdict([-3.0, -2.0]) == "no"
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
    rebuilt = report.write_evidence("docs/results/issue39", str(tmp_path / "issue39.md"))
    with open(rebuilt) as f, open("docs/results/issue39/README.md") as g:
        assert f.read() == g.read()
