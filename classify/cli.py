"""`mcu classify ...`: predict on JSONL, evaluate on labelled data, train the statistical layer."""

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from classify.cli_versions import _dsn_option, _registry_option, _train_version, evaluate_candidate, promote, versions
from classify.clusters import ClusterIndex
from classify.data_files import DEV_SET, EXTERNAL_OMSK, MODEL_PATH, TRAIN_ONLY
from classify.enricher import Enricher
from common.yaml_load import package_file
from schemas.channels import Channel
from schemas.message import NormalizedMessage

F = TypeVar("F", bound=Callable[..., Any])


def _channel(value: object) -> Channel:
    try:
        return Channel(str(value))
    except ValueError:
        return Channel.WEBFORM


def message_from_line(d: dict[str, Any], line_no: int) -> NormalizedMessage:
    """A predict input line ({id, text, channel?, lat?, lon?, hints?, created_at?}) as a message."""
    now = datetime.now(UTC)
    created = d.get("created_at")
    return NormalizedMessage(
        message_id=str(d.get("id", line_no)),
        channel=_channel(d.get("channel", "webform")),
        source_id=str(d.get("id", line_no)),
        created_at=datetime.fromisoformat(created) if created else now,
        fetched_at=now,
        normalized_at=now,
        text=str(d["text"]) or " ",
        title=d.get("title"),
        lat=d.get("lat"),
        lon=d.get("lon"),
        address=d.get("address"),
        hints={str(k): str(v) for k, v in (d.get("hints") or {}).items()},
    )


def predict_record(enricher: Enricher, d: dict[str, Any], line_no: int) -> dict[str, Any]:
    c, r = enricher.enrich(message_from_line(d, line_no))
    return {
        "id": d.get("id", line_no),
        "category": c.category,
        "category_name": c.category_name,
        "department": r.department,
        "department_name": r.department_name,
        "block": r.block,
        "block_name": r.block_name,
        "forward_to": r.forward_to,
        "level": r.level,
        "settlement": r.settlement,
        "settlement_name": r.settlement_name,
        "locality": r.locality,
        "settlement_evidence": r.settlement_evidence,
        "kind": c.kind,
        "sentiment": c.sentiment,
        "urgency": c.urgent,
        "urgency_reasons": c.urgency_reasons,
        "conflict": c.conflict,
        "confidence": c.confidence,
        "needs_review": c.needs_review,
        "cluster_id": c.cluster_id,
        "cluster_size": c.cluster_size,
    }


@click.group("classify")
def classify() -> None:
    """Классификация и маршрутизация обращений (правила + статистическая модель)."""


@classify.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSONL: по строке {id, text, channel?, lat?, lon?, hints?, created_at?}",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="-",
    help="куда писать результат (JSONL; '-' — стандартный вывод)",
)
@click.option("--no-model", is_flag=True, help="только правила, без модели (для сравнения)")
def predict(input_path: Path, output_path: Path, no_model: bool) -> None:
    """Классифицировать и маршрутизировать каждую строку файла JSONL."""
    enricher = Enricher.load(use_model=not no_model, clusters=ClusterIndex())
    out: TextIO = sys.stdout if str(output_path) == "-" else output_path.open("w", encoding="utf-8")
    n = 0
    try:
        with input_path.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    rec = predict_record(enricher, d, i)
                except (ValueError, KeyError) as exc:
                    raise click.ClickException(f"{input_path}:{i}: {exc}") from exc
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    click.echo(f"классифицировано обращений: {n}", err=True)


def _print_report(title: str, rep: dict[str, Any]) -> None:
    click.echo(f"\n== {title}: macro-F1 {rep['macro_f1']:.4f}, доля верных {rep['accuracy']:.4f}")
    click.echo(f"{'класс':<24}{'prec':>7}{'rec':>7}{'f1':>7}{'n':>6}")
    for lab, m in rep["per_class"].items():
        if m["support"] or m["precision"]:
            click.echo(f"{lab:<24}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{m['support']:>6}")
    labels = rep["confusion"]["labels"]
    cm = rep["confusion"]["rows_gold_cols_predicted"]
    used = [i for i, lab in enumerate(labels) if any(row[i] for row in cm) or rep["per_class"][lab]["support"]]
    click.echo("матрица ошибок (строки — разметка, столбцы — предсказание; номера по порядку таблицы выше)")
    click.echo("    " + " ".join(f"{j:>4}" for j in range(len(used))))
    for n, i in enumerate(used):
        if rep["per_class"][labels[i]]["support"]:
            click.echo(f"{n:>3} " + " ".join(f"{cm[i][j]:>4}" for j in used) + f"  {labels[i]}")


@classify.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--cv",
    "folds",
    type=int,
    default=0,
    help="k-кратная перекрёстная проверка: модель обучается заново на каждом блоке",
)
@click.option(
    "--train-only",
    "--synthetic",
    "train_only",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    default=(TRAIN_ONLY,),
    show_default=True,
    help="строки, которые добавляются в обучение каждого блока и никогда не оцениваются (train-only, синтетика)",
)
@click.option("--no-train-only", is_flag=True, help="обучать блоки только на оцениваемом файле")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), help="записать полный отчёт в JSON")
@click.option(
    "--include-synthetic",
    is_flag=True,
    help="оценивать и синтетические строки (проверка поведения, не оценка качества)",
)
def eval_cmd(
    file: Path,
    folds: int,
    train_only: tuple[Path, ...],
    no_train_only: bool,
    json_out: Path | None,
    include_synthetic: bool,
) -> None:
    """Точность/полнота/F1 по классам, macro-F1, матрица ошибок, точность поселений на размеченном JSONL.

    Строки: {"text", "category"?, "settlement"?, "lat"?, "lon"?, "hints"?}; строки с пометкой
    "synthetic": true или "train_only": true не оцениваются. С --cv каждый обучающий блок получает
    и строки --train-only, как в `mcu classify train`.
    """
    from classify.devset import read_jsonl
    from classify.training import block_of, cross_validate, report

    rows = read_jsonl(file)
    scored = [r for r in rows if not r.get("train_only") and (include_synthetic or not r.get("synthetic"))]
    if include_synthetic and any(r.get("synthetic") for r in rows):
        click.echo(
            "ВНИМАНИЕ: оцениваются синтетические строки — это проверка поведения, а не оценка качества", err=True
        )
    enricher = Enricher.load(use_model=folds == 0, clustering=False)
    result: dict[str, Any] = {"file": str(file), "model_version": enricher.model_version}
    cat_rows = [r for r in scored if r.get("category")]
    if cat_rows and folds:
        extra = [] if no_train_only else [r for p in train_only for r in read_jsonl(p)]
        extra += [r for r in rows if r.get("synthetic") or r.get("train_only")]
        click.echo(
            f"оцениваемых строк {len(cat_rows)}; каждый обучающий блок получает ещё {len(extra)} train-only", err=True
        )
        result["cv"] = cross_validate(enricher, cat_rows, folds=folds, train_only=extra)
        for layer in ("combined", "rules_only", "model_only"):
            _print_report(f"{layer} category ({folds}-fold CV)", result["cv"][layer]["category"])
            _print_report(f"{layer} block ({folds}-fold CV)", result["cv"][layer]["block"])
        for layer in ("combined", "rules_only", "model_only"):
            for part in ("category_100plus_chars", "block_100plus_chars"):
                if part not in result["cv"][layer]:
                    continue
                rep = result["cv"][layer][part]
                click.echo(f"== {layer} {part}: macro-F1 {rep['macro_f1']:.4f}, доля верных {rep['accuracy']:.4f}")
    elif cat_rows:
        pred, gold = [], []
        for i, r in enumerate(cat_rows):
            c, _ = enricher.enrich(message_from_line(r, i))
            pred.append(c.category)
            gold.append(r["category"])
        result["category"] = report(gold, pred).as_dict()
        result["block"] = report([block_of(enricher, g) for g in gold], [block_of(enricher, p) for p in pred]).as_dict()
        _print_report("category", result["category"])
        _print_report("block", result["block"])
    st_rows = [r for r in scored if "settlement" in r]
    if st_rows:
        hits, wrong = 0, []
        for i, r in enumerate(st_rows):
            _, route = enricher.enrich(message_from_line(r, i))
            if route.settlement == r["settlement"]:
                hits += 1
            else:
                wrong.append(
                    {
                        "id": r.get("id"),
                        "gold": r["settlement"],
                        "got": route.settlement,
                        "evidence": route.settlement_evidence,
                    }
                )
        result["settlement"] = {"n": len(st_rows), "accuracy": hits / len(st_rows), "errors": wrong}
        click.echo(f"\n== поселение определено верно: {hits}/{len(st_rows)} = {hits / len(st_rows):.4f}")
        for w in wrong[:30]:
            click.echo(f"   {w}")
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


@classify.command()
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help=f"размеченный JSONL (по умолчанию {DEV_SET.name} и {TRAIN_ONLY.name}); синтетика тоже идёт в обучение",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=MODEL_PATH,
    show_default=True,
    help="куда сохранить модель",
)
@click.option(
    "--with-corrections",
    "corrections_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="исправления операторов (JSONL/CSV: text, category): обучить новую версию в реестре",
)
@click.option("--from-store", is_flag=True, help="исправления из таблицы corrections хранилища ClickHouse")
@_registry_option
@_dsn_option
@click.option("--weight", type=float, default=None, help="вес исправления против строки набора разработки (3)")
@click.option("--cv", "folds", type=int, default=0, help="посчитать CV (k блоков) и записать в метаданные версии")
def train(
    data: tuple[Path, ...],
    output: Path,
    corrections_file: Path | None,
    from_store: bool,
    registry: Path,
    dsn: str,
    weight: float | None,
    folds: int,
) -> None:
    """Обучить статистический слой на размеченных данных и сохранить модель с версией.

    С --with-corrections ФАЙЛ или --from-store: набор разработки, обучающий пул и исправления
    операторов (с повышенным весом) обучают новую версию в реестре; `promote` делает её текущей.
    """
    from classify.devset import read_jsonl
    from classify.training import fit, lemmatise, train_only_weights

    if corrections_file or from_store:
        _train_version(corrections_file, from_store, registry, dsn, weight, folds)
        return
    paths = data or (DEV_SET, TRAIN_ONLY)
    rows = [r for p in paths for r in read_jsonl(p) if r.get("category")]
    enricher = Enricher.load(use_model=False, clustering=False)
    model = fit(
        lemmatise(enricher, rows),
        [r["category"] for r in rows],
        meta={
            "data": [p.name for p in paths],
            "n_synthetic": sum(1 for r in rows if r.get("synthetic")),
            "n_train_only": sum(1 for r in rows if r.get("train_only")),
            "taxonomy_version": enricher.taxonomy.version,
        },
        weights=train_only_weights(rows),
    )
    model.save(output)
    size = output.stat().st_size
    click.echo(
        f"{model.version}: примеров {len(rows)}, классов {len(model.classes)}, "
        f"признаков {len(model.vocab)} -> {output} ({size / 1e6:.2f} МБ)"
    )


def _source_file(flag: str, help_text: str, required: bool = True) -> Callable[[F], F]:
    """An option naming one real source file (the repository and commit it came from go in the help)."""
    return click.option(
        flag, type=click.Path(exists=True, dir_okay=False, path_type=Path), required=required, help=help_text
    )


@classify.command("build-devset")
@_source_file("--spb", "messages.jsonl.gz портала «Наш Санкт-Петербург» (см. /work/shared/data/README.md)")
@_source_file(
    "--kursk", "train_dataset_train.csv из github.com/k1ck3r777/1234, коммит 15adf88 (Курская область)", required=False
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEV_SET,
    show_default=True,
    help="куда записать размеченный набор для проверки",
)
@click.option(
    "--train-only-output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=TRAIN_ONLY,
    show_default=True,
    help="куда записать строки только для обучения",
)
def build_devset(spb: Path, kursk: Path | None, output: Path, train_only_output: Path) -> None:
    """Пересобрать размеченный набор для проверки и набор только для обучения из реальных источников и сопоставлений."""
    from classify.devset import build_kursk, build_spb, drop_rare, train_only_for, write_jsonl

    data = package_file("classify", "data")
    rows, extra = build_spb(spb, data / "spb_mapping.yaml")
    if kursk:
        rows += build_kursk(kursk, data / "kursk_mapping.yaml")
    rows = drop_rare(rows)
    extra = train_only_for(rows, extra)
    write_jsonl(rows, output)
    write_jsonl(extra, train_only_output)
    click.echo(
        f"реальных размеченных обращений {len(rows)}, категорий {len({r['category'] for r in rows})} -> {output}"
    )
    click.echo(f"реальных обращений только для обучения (не оцениваются) {len(extra)} -> {train_only_output}")


@classify.command("build-external")
@_source_file("--omsk-csv", "data/processed/test_40.csv из github.com/ari-ira17/ai-incident-analyst, коммит acf40ecc")
@_source_file(
    "--omsk-feed", "frontend/src/data/liveDemoFeed.json из github.com/Revanshiest/Hackaton_Backend, коммит 822078d0"
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=EXTERNAL_OMSK,
    show_default=True,
    help="куда записать внешний проверочный набор",
)
def build_external(omsk_csv: Path, omsk_feed: Path, output: Path) -> None:
    """Собрать внешний проверочный набор: реальные обращения другого региона, на которых модель не обучается."""
    from classify.devset import build_omsk, write_jsonl

    rows = build_omsk(omsk_csv, omsk_feed, package_file("classify", "data/omsk_mapping.yaml"))
    write_jsonl(rows, output)
    click.echo(f"реальных обращений {len(rows)}, категорий {len({r['category'] for r in rows})} -> {output}")


# Model versions (classify/cli_versions.py): promote, list, compare a candidate with the current model.
for _command in (promote, versions, evaluate_candidate):
    classify.add_command(_command)
