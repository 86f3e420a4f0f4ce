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
