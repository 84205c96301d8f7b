"""Does a representation beyond the two portals' words help out of domain? One inner split, cheap.

Variant "tfidf" is the shipped recipe (lemma unigrams, bigrams, prefixes; TF-IDF; logistic
regression). Variant "tfidf+navec×a" appends the mean navec vector of the message's lemmas (the
news embeddings shipped inside the `natasha` wheel: natasha/data/emb/navec_news_v1_1B_250K_300d_100q.tar),
scaled by a, to the same TF-IDF row. Both are trained on 80 % of the development set (stratified,
seed 13) plus the train-only pool and scored, model alone, on the other 20 % (inner split) and on
the 172 Omsk messages (the outside check). The machine is shared, so one split, not a 5-fold CV.

    pip download natasha==1.6.0 --no-deps -d /tmp/w && unzip /tmp/w/natasha*.whl 'natasha/data/emb/*' -d /tmp/n
    .venv/bin/python bench/model_experiments.py --navec /tmp/n/natasha/data/emb/navec_news_v1_1B_250K_300d_100q.tar
"""

import argparse
import json
import sys
import time
from pathlib import Path

# the repository, not bench/, first: bench/sla_calendar.py would shadow the standard library module
sys.path[0] = str(Path(__file__).resolve().parents[1])

DATA = Path(__file__).resolve().parents[1] / "classify" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--navec", type=Path, required=True)
    ap.add_argument("--alpha", type=float, action="append", help="scale of the navec block (repeatable)")
    args = ap.parse_args()
    import numpy as np
    from navec import Navec
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from classify.devset import read_jsonl
    from classify.enricher import Enricher
    from classify.model import STOPWORDS, features
    from classify.training import MAX_FEATURES, MIN_DF, C, block_of, lemmatise, train_only_weights

    e = Enricher.load(use_model=False, clustering=False)
    dev = read_jsonl(DATA / "dev.jsonl")
    pool = read_jsonl(DATA / "train_extra.jsonl.gz")
    omsk = [r for r in read_jsonl(DATA / "external_omsk.jsonl") if r.get("category")]
    t = time.perf_counter()
    lem_dev, lem_pool, lem_omsk = lemmatise(e, dev), lemmatise(e, pool), lemmatise(e, omsk)
    print(f"lemmatised in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    y_dev = [r["category"] for r in dev]
    tr, te = next(StratifiedKFold(5, shuffle=True, random_state=13).split(np.zeros(len(dev)), y_dev))
    navec = Navec.load(args.navec)

    def emb(lemma_lists: list[list[str]]) -> np.ndarray:
        out = np.zeros((len(lemma_lists), navec.pq.dim), dtype=np.float32)
        for i, lem in enumerate(lemma_lists):
            vs = [navec[w] for w in lem if w not in STOPWORDS and w in navec]
            if vs:
                v = np.mean(vs, axis=0)
                out[i] = v / (np.linalg.norm(v) or 1.0)
        return out

    train_lem = [lem_dev[i] for i in tr] + lem_pool
    y_train = [y_dev[i] for i in tr] + [r["category"] for r in pool]
    w_train = np.array([1.0] * len(tr) + train_only_weights(pool))
    test_lem, y_test = [lem_dev[i] for i in te], [y_dev[i] for i in te]
    y_omsk = [r["category"] for r in omsk]
    vec = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=MIN_DF, max_features=MAX_FEATURES)
    x_train = vec.fit_transform(train_lem)
    x_test, x_omsk = vec.transform(test_lem), vec.transform(lem_omsk)
    e_train, e_test, e_omsk = emb(train_lem), emb(test_lem), emb(lem_omsk)
    cover = float(np.mean([np.any(v) for v in e_omsk]))

    def score(gold: list[str], pred: list[str]) -> dict[str, float]:
        gb, pb = [block_of(e, g) for g in gold], [block_of(e, p) for p in pred]
        return {
            "category_macro_f1": round(f1_score(gold, pred, labels=sorted(set(gold)), average="macro"), 4),
            "category_accuracy": round(float(np.mean([a == b for a, b in zip(gold, pred, strict=True)])), 4),
            "block_macro_f1": round(f1_score(gb, pb, labels=sorted(set(gb)), average="macro"), 4),
            "block_accuracy": round(float(np.mean([a == b for a, b in zip(gb, pb, strict=True)])), 4),
        }

    results = {"omsk_messages_with_a_navec_word": round(cover, 3)}
    for alpha in [0.0, *(args.alpha or [1.0])]:
        name = "tfidf" if alpha == 0 else f"tfidf+navec×{alpha:g}"
        t = time.perf_counter()
        if alpha:
            xs = [
                hstack([x, csr_matrix(v * alpha)]).tocsr()
                for x, v in ((x_train, e_train), (x_test, e_test), (x_omsk, e_omsk))
            ]
        else:
            xs = [x_train, x_test, x_omsk]
        clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(xs[0], y_train, sample_weight=w_train)
        results[name] = {
            "inner_split": score(y_test, list(clf.predict(xs[1]))),
            "omsk": score(y_omsk, list(clf.predict(xs[2]))),
            "fit_seconds": round(time.perf_counter() - t),
        }
        print(json.dumps(results, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
