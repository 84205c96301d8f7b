"""Hard cases the issue names. Texts are written for the tests (synthetic), not evaluation data."""

from classify.enricher import Enricher
from schemas.case import UNRESOLVED


def test_urgent_mixed_case_without_punctuation(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(msg("СРОЧНО в ДЖУБГЕ по улице мира НЕТ ВОДЫ ТРЕТИЙ ДЕНЬ дети без воды помогите"))
    assert c.urgent and "no_water" in c.urgency_reasons
    assert c.category == "water_supply" and r.block == 3
    assert r.settlement == "dzhubgskoe" and r.settlement_name == "Джубгское городское поселение"


def test_transliterated_text(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(msg("v Novomikhaylovskom net sveta uzhe sutki, kogda dadut?"))
    assert c.category == "power_supply" and c.urgent and "no_power" in c.urgency_reasons
    assert c.kind == "question"
    assert r.settlement == "novomikhaylovskoe"


def test_gratitude_that_mentions_a_problem(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(
        msg("Огромное спасибо администрации Ольгинки, быстро засыпали яму на дороге, которая мешала всем")
    )
    assert c.kind == "gratitude" and c.sentiment == "positive"
    assert not c.urgent
    assert c.category == "roads" and r.settlement == "novomikhaylovskoe"


def test_complaint_with_polite_thanks_stays_complaint(enricher: Enricher, msg) -> None:
    c, _ = enricher.enrich(msg("Безобразие, неделю не вывозят мусор в Шепси, сколько можно. Заранее спасибо"))
    assert c.kind != "gratitude" and c.sentiment == "negative" and c.category == "waste"


def test_message_naming_two_localities(enricher: Enricher, msg) -> None:
    _, r = enricher.enrich(msg("Живу в Туапсе, отдыхали в Лермонтово - на пляже в Лермонтово горы мусора"))
    assert r.settlement == "tenginskoe" and r.locality == "Лермонтово"
    c, r = enricher.enrich(msg("В Ольгинке и в Шепси нет света"))
    assert r.settlement == UNRESOLVED and r.settlement_name == "" and c.needs_review


def test_html_from_a_portal(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(msg("<p>Уважаемая администрация!</p><p>В&nbsp;с.&nbsp;Агой не горят фонари</p>"))
    assert c.category == "street_lighting" and r.settlement == "nebugskoe"


def test_conflict_flags(enricher: Enricher, msg) -> None:
    c, _ = enricher.enrich(msg("Пишу уже в третий раз, ответа нет, яма на дороге так и есть. Бездельники, дармоеды!"))
    assert "no_answer" in c.conflict and "aggression" in c.conflict
    c, _ = enricher.enrich(msg("да сука сколько можно ждать ремонт дороги"))
    assert "obscenity" in c.conflict


def test_outside_competence_goes_to_block_zero_with_a_body(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(msg("В поликлинике Туапсе невозможно записаться к врачу-терапевту"))
    assert c.category == "healthcare" and r.block == 0 and r.forward_to


def test_nothing_to_go_on_is_unresolved_and_reviewed(enricher: Enricher, msg) -> None:
    c, r = enricher.enrich(msg("Добрый день"))
    assert c.category == UNRESOLVED and c.needs_review
    assert r.department == UNRESOLVED and r.settlement == UNRESOLVED


def test_channel_hints(enricher: Enricher, msg) -> None:
    _, r = enricher.enrich(msg("Когда починят фонари на нашей улице?", hints={"settlement": "shepsinskoe"}))
    assert r.settlement == "shepsinskoe" and r.settlement_evidence == "channel"
    c, _ = enricher.enrich(msg("Просим разобраться", hints={"rubric": "Детские сады"}))
    assert c.category == "kindergartens"


def test_duplicates_share_a_cluster_by_default(msg) -> None:
    fresh = Enricher.load()  # what the pipeline's agent does: clustering on, in memory
    c1, _ = fresh.enrich(msg("В Джубге нет воды с утра", message_id="dup-1"))
    c2, _ = fresh.enrich(msg("джубга опять без воды, когда дадут?", message_id="dup-2"))
    c3, _ = fresh.enrich(msg("В Шепси нет воды", message_id="dup-3"))
    assert c1.cluster_id and c1.cluster_id == c2.cluster_id and c2.cluster_size == 2
    assert c3.cluster_id != c1.cluster_id


def test_polite_closing_is_not_gratitude(enricher: Enricher, msg) -> None:
    c, _ = enricher.enrich(msg("Прошу убрать мусор у дома 5 в Агое. Заранее спасибо"))
    assert c.kind == "appeal" and c.sentiment != "positive"
