"""Build the small OpenML server fixture from datasets that ship with scikit-learn.

Run once (``python tests/live/data/make_data.py``); its output is committed. For each dataset it
writes what openml.org would serve for a classification task with 10-fold cross-validation:

* ``tasks/<tid>/task.xml``            answer of ``GET /api/v1/xml/task/<tid>``
* ``tasks/<tid>/splits.arff``         the task's ``data_splits_url`` (type, rowid, repeat, fold)
* ``datasets/<did>/description.xml``  answer of ``GET /api/v1/xml/data/<did>``
* ``datasets/<did>/features.xml``     answer of ``GET /api/v1/xml/data/features/<did>``
* ``datasets/<did>/dataset.arff``     the description's ``oml:url`` (its md5 is in the description)

XML follows OpenML's REST schema (``oml:`` prefix, ``http://openml.org/openml`` namespace). URLs
inside the XML contain the placeholder ``{{SERVER}}``, which the test server replaces by its own
``http://127.0.0.1:PORT`` when answering. Task and dataset ids are our own (99xxxx), so nobody
mistakes them for openml.org's copies of these datasets.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from xml.sax.saxutils import escape

import arff
import numpy as np
from sklearn import datasets
from sklearn.model_selection import StratifiedKFold

HERE = Path(__file__).parent


def load_breast_cancer_false_true():
    """breast_cancer with the classes named ``false``/``true``, as kc1 and other OpenML tasks name theirs: openml-python
    turns such an ARFF target into Python booleans, which the loader must map back to the task's class labels."""
    bunch = datasets.load_breast_cancer()
    bunch.target_names = np.array(["false", "true"])
    return bunch


#: task id -> (dataset id, sklearn loader, dataset name)
FIXTURES = {
    990001: (990101, datasets.load_iris, "iris"),
    990002: (990102, datasets.load_wine, "wine"),
    990003: (990103, datasets.load_breast_cancer, "breast_cancer"),
    990004: (990104, datasets.load_digits, "digits"),
    990005: (990105, load_breast_cancer_false_true, "breast_cancer_false_true"),
}
NS = 'xmlns:oml="http://openml.org/openml"'


def _clean(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")


def build(tid: int, did: int, loader, name: str) -> None:
    bunch = loader()
    X, y = bunch.data, bunch.target
    features = [_clean(f) for f in bunch.feature_names]
    classes = [_clean(c) if not isinstance(c, (int, np.integer)) else f"digit_{c}" for c in bunch.target_names]
    ints = bool(np.all(X == np.round(X)))
    rows = [[(int(v) if ints else float(v)) for v in x] + [classes[int(t)]] for x, t in zip(X, y)]
    text = arff.dumps({
        "relation": name,
        "description": f"{name} from scikit-learn {loader.__name__}, as OpenML ARFF",
        "attributes": [(f, "INTEGER" if ints else "REAL") for f in features] + [("class", classes)],
        "data": rows,
    }) + "\n"
    ddir = HERE / "datasets" / str(did)
    ddir.mkdir(parents=True, exist_ok=True)
    (ddir / "dataset.arff").write_text(text, encoding="utf-8")
    md5 = hashlib.md5(text.encode("utf-8")).hexdigest()
    (ddir / "description.xml").write_text(f"""<oml:data_set_description {NS}>
  <oml:id>{did}</oml:id>
  <oml:name>{name}</oml:name>
  <oml:version>1</oml:version>
  <oml:description>{escape(name)}: scikit-learn's bundled copy ({loader.__name__}), served by hpo-gym's test server.</oml:description>
  <oml:format>ARFF</oml:format>
  <oml:upload_date>2026-01-01T00:00:00</oml:upload_date>
  <oml:licence>Public</oml:licence>
  <oml:url>{{{{SERVER}}}}/data/v1/download/{did}/{name}.arff</oml:url>
  <oml:file_id>{did}</oml:file_id>
  <oml:default_target_attribute>class</oml:default_target_attribute>
  <oml:visibility>public</oml:visibility>
  <oml:status>active</oml:status>
  <oml:md5_checksum>{md5}</oml:md5_checksum>
</oml:data_set_description>
""", encoding="utf-8")
    feats = []
    for i, f in enumerate(features + ["class"]):
        target = f == "class"
        nominal = "".join(f"\n    <oml:nominal_value>{c}</oml:nominal_value>" for c in classes) if target else ""
        feats.append(f"""  <oml:feature>
    <oml:index>{i}</oml:index>
    <oml:name>{f}</oml:name>
    <oml:data_type>{'nominal' if target else 'numeric'}</oml:data_type>{nominal}
    <oml:is_target>{'true' if target else 'false'}</oml:is_target>
    <oml:is_ignore>false</oml:is_ignore>
    <oml:is_row_identifier>false</oml:is_row_identifier>
    <oml:number_of_missing_values>0</oml:number_of_missing_values>
  </oml:feature>""")
    (ddir / "features.xml").write_text(f"<oml:data_features {NS}>\n" + "\n".join(feats) + "\n</oml:data_features>\n", encoding="utf-8")

    tdir = HERE / "tasks" / str(tid)
    tdir.mkdir(parents=True, exist_ok=True)
    lines = ["@RELATION Task_%d_splits" % tid, "", "@ATTRIBUTE type {TRAIN,TEST}", "@ATTRIBUTE rowid NUMERIC",
             "@ATTRIBUTE repeat NUMERIC", "@ATTRIBUTE fold NUMERIC", "", "@DATA"]
    for fold, (train, test) in enumerate(StratifiedKFold(10, shuffle=True, random_state=0).split(X, y)):
        lines += [f"TRAIN,{r},0,{fold}" for r in train] + [f"TEST,{r},0,{fold}" for r in test]
    (tdir / "splits.arff").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tdir / "task.xml").write_text(f"""<oml:task {NS}>
  <oml:task_id>{tid}</oml:task_id>
  <oml:task_name>Task {tid}: {name} (Supervised Classification)</oml:task_name>
  <oml:task_type_id>1</oml:task_type_id>
  <oml:task_type>Supervised Classification</oml:task_type>
  <oml:input name="source_data">
    <oml:data_set>
      <oml:data_set_id>{did}</oml:data_set_id>
      <oml:target_feature>class</oml:target_feature>
    </oml:data_set>
  </oml:input>
  <oml:input name="estimation_procedure">
    <oml:estimation_procedure>
      <oml:id>1</oml:id>
      <oml:type>crossvalidation</oml:type>
      <oml:data_splits_url>{{{{SERVER}}}}/api_splits/get/{tid}/Task_{tid}_splits.arff</oml:data_splits_url>
      <oml:parameter name="number_repeats">1</oml:parameter>
      <oml:parameter name="number_folds">10</oml:parameter>
      <oml:parameter name="percentage"></oml:parameter>
      <oml:parameter name="stratified_sampling">true</oml:parameter>
    </oml:estimation_procedure>
  </oml:input>
  <oml:input name="cost_matrix">
    <oml:cost_matrix></oml:cost_matrix>
  </oml:input>
  <oml:input name="evaluation_measures">
    <oml:evaluation_measures>
      <oml:evaluation_measure>predictive_accuracy</oml:evaluation_measure>
    </oml:evaluation_measures>
  </oml:input>
  <oml:output name="predictions">
    <oml:predictions>
      <oml:format>ARFF</oml:format>
      <oml:feature name="repeat" type="integer"/>
      <oml:feature name="fold" type="integer"/>
      <oml:feature name="row_id" type="integer"/>
      <oml:feature name="confidence.classname" type="numeric"/>
      <oml:feature name="prediction" type="string"/>
    </oml:predictions>
  </oml:output>
</oml:task>
""", encoding="utf-8")


if __name__ == "__main__":
    for tid, (did, loader, name) in FIXTURES.items():
        build(tid, did, loader, name)
        print(f"task {tid} / dataset {did}: {name}")
