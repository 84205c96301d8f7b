"""`mcu classify promote | versions | evaluate-candidate` and the training of a version with corrections.

Split from classify/cli.py (which registers these commands on its group) so that neither module
grows past a screenful of commands; the registry itself is classify/registry.py.
"""

import os
from pathlib import Path
from typing import Any

import click

from classify.data_files import DEV_SET, TRAIN_ONLY
from classify.enricher import Enricher
from classify.settings import ClassifySettings


def _default_registry() -> Path:
    # The worker's rule (ClassifySettings), with MCU_VAR_DIR read here: classify does not import mcu.
    return ClassifySettings().resolved_registry_dir(Path(os.environ.get("MCU_VAR_DIR") or "var"))


_registry_option = click.option(
    "--registry",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MCU_MODEL_REGISTRY_DIR",
    default=_default_registry,
    show_default="$MCU_VAR_DIR/models",
    help="каталог версий модели (MCU_MODEL_REGISTRY_DIR)",
)
_dsn_option = click.option(
    "--dsn",
    envvar="MCU_CLICKHOUSE_DSN",
    default="http://127.0.0.1:8123/mcu",
    show_default=True,
    help="хранилище для --from-store (MCU_CLICKHOUSE_DSN)",
)


def _load_corrections(enricher: Enricher, path: Path | None, from_store: bool, dsn: str) -> list[dict[str, Any]]:
    from classify.learning import CorrectionsError, corrections_from_store, read_corrections

    rows: list[dict[str, Any]] = []
    if path:
        try:
            rows += read_corrections(path, set(enricher.categories))
        except CorrectionsError as exc:
            raise click.ClickException(str(exc)) from None
    if from_store:
        try:
            rows += corrections_from_store(dsn)
        except Exception as exc:  # any store failure is one clear line
            raise click.ClickException(f"исправления из хранилища не прочитаны: {exc}") from None
    return rows


def _train_version(
    path: Path | None, from_store: bool, registry_dir: Path, dsn: str, weight: float | None, folds: int
) -> None:
    from classify.devset import read_jsonl
    from classify.learning import CORRECTIONS_WEIGHT, train_with_corrections
    from classify.registry import ModelRegistry

    enricher = Enricher.load(use_model=False, clustering=False)
    corrections = _load_corrections(enricher, path, from_store, dsn)
    if not corrections:
        raise click.ClickException("нет исправлений: обучать новую версию не на чем")
    reg = ModelRegistry(registry_dir)
    model, info = train_with_corrections(
        enricher,
        read_jsonl(DEV_SET),
        read_jsonl(TRAIN_ONLY),
        corrections,
        weight=CORRECTIONS_WEIGHT if weight is None else weight,
        folds=folds,
        parent=reg.current(),
    )
    where = reg.add(model, info)
    click.echo(f"версия {info.version}: {info.n_examples} примеров, из них исправлений {info.n_corrections} -> {where}")
    if info.cv:
        click.echo(
            f"CV ({folds} блоков): макро-F1 категорий {info.cv['category_macro_f1']:.3f},"
            f" блоков {info.cv['block_macro_f1']:.3f}"
        )
    click.echo(f"сделать текущей: mcu classify promote {info.version}")


@click.command()
@click.argument("version")
@_registry_option
def promote(version: str, registry: Path) -> None:
    """Сделать версию модели текущей; работающие обработчики подхватят её без перезапуска."""
    from classify.registry import ModelRegistry, UnknownVersion

    reg = ModelRegistry(registry)
    before = reg.current()
    try:
        reg.promote(version)
    except UnknownVersion as exc:
        known = ", ".join(v.version for v in reg.versions()) or "нет ни одной"
        raise click.ClickException(f"{exc}; версии: {known}") from None
    click.echo(f"текущая модель: {version} (была: {before or 'встроенная'})")


@click.command()
@_registry_option
def versions(registry: Path) -> None:
    """Версии модели в реестре; текущая отмечена «*»."""
    from classify.registry import ModelRegistry

    reg = ModelRegistry(registry)
    cur = reg.current()
    for v in reg.versions():
        cv = f"CV макро-F1 блоков {v.cv['block_macro_f1']:.3f}" if v.cv else "CV не считался"
        mark = "*" if v.version == cur else " "
        click.echo(f"{mark} {v.version}  {v.created_at:%Y-%m-%d %H:%M}  исправлений {v.n_corrections}  {cv}")
    if cur is None:
        click.echo("текущая: встроенная модель (classify/data/model.joblib)")


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


@click.command("evaluate-candidate")
@click.argument("version")
@click.option(
    "--corrections",
    "corrections_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="исправления (JSONL/CSV: text, category)",
)
@click.option("--from-store", is_flag=True, help="исправления из таблицы corrections хранилища")
@click.option("--latest", type=int, default=0, help="только последние N исправлений (0: все)")
@click.option("--cv", "folds", type=int, default=0, help="посчитать CV текущего рецепта, если его нет в метаданных")
@_registry_option
@_dsn_option
def evaluate_candidate(
    version: str, corrections_file: Path | None, from_store: bool, latest: int, folds: int, registry: Path, dsn: str
) -> None:
    """Сравнить версию-кандидата с текущей моделью: на последних исправлениях и по CV набора разработки.

    Исправления, на которых кандидат обучался, он не оценивает сам: для них берётся перекрёстная
    оценка из его метаданных (train --cv), где каждое исправление судит модель, его не видевшая.
    """
    from classify.learning import answers, dev_cv, summary
    from classify.registry import ModelRegistry, UnknownVersion

    reg = ModelRegistry(registry)
    try:
        cand_info = reg.info(version)
        cand = reg.load(version)
        cur_version = reg.current()
        cur_info = reg.info(cur_version) if cur_version else None
        cur = reg.load(cur_version) if cur_version else None
    except UnknownVersion as exc:
        raise click.ClickException(str(exc)) from None
    enricher = Enricher.load(clustering=False)
    if cur is None:
        cur = enricher.model
    cur_name = cur_version or f"встроенная {cur.version if cur else ''}".strip()
    rows = _load_corrections(enricher, corrections_file, from_store, dsn) if (corrections_file or from_store) else []
    if latest:
        rows = rows[-latest:]
    seen = set(cand_info.correction_ids)
    fresh = [r for r in rows if str(r["id"]) not in seen]
    lines: list[tuple[str, str, str]] = []

    def block(title: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
        lines.append((title, "", ""))
        for key, name in (
            ("category_accuracy", "  доля верных категорий"),
            ("category_macro_f1", "  макро-F1 категорий"),
            ("block_accuracy", "  доля верных блоков"),
            ("block_macro_f1", "  макро-F1 блоков"),
        ):
            lines.append((name, _fmt(a.get(key) if a else None), _fmt(b.get(key) if b else None)))

    if fresh:
        gold = [r["category"] for r in fresh]
        texts = [r["text"] for r in fresh]
        block(
            f"Исправления, не бывшие в обучении кандидата (n={len(fresh)})",
            summary(enricher, gold, answers(enricher, cur, texts)),
            summary(enricher, gold, answers(enricher, cand, texts)),
        )
    trained = [r for r in rows if str(r["id"]) in seen]
    if trained:
        gold = [r["category"] for r in trained]
        block(
            f"Исправления из обучения кандидата (n={len(trained)};"
            f" кандидат — перекрёстно, все его {cand_info.n_corrections})",
            summary(enricher, gold, answers(enricher, cur, [r["text"] for r in trained])),
            cand_info.corrections_cv,
        )
    cur_cv = cur_info.cv if cur_info else None
    if cur_cv is None and folds:
        from classify.devset import read_jsonl

        click.echo(f"считаю CV текущего рецепта ({folds} блоков)…", err=True)
        cur_cv = dev_cv(
            Enricher.load(use_model=False, clustering=False), read_jsonl(DEV_SET), read_jsonl(TRAIN_ONLY), folds
        )
    block("CV на наборе разработки", cur_cv, cand_info.cv)
    w = max(len(t) for t, _, _ in lines) + 2
    click.echo(f"текущая: {cur_name}\nкандидат: {version}\n")
    click.echo(f"{'':<{w}}{'текущая':>12}{'кандидат':>12}")
    for t, a, b in lines:
        click.echo(f"{t:<{w}}{a:>12}{b:>12}")
    if not rows:
        click.echo("исправления не заданы (--corrections FILE или --from-store): сравнение только по CV")
    if cur_cv is None or cand_info.cv is None:
        click.echo("«—»: не измерено (train --cv 5 для кандидата, --cv 5 здесь для встроенной модели)")
