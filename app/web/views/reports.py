"""Reports: how far to trust the active model — calibration, coverage, learning curves against
random-control labels, the embedding map and labeler agreement — with the whole report as one
downloadable HTML file (the same file ``galactive report --out`` writes)."""

import streamlit as st

from app.services.loop import labeling
from app.services.loop.retrain import active_version
from app.services.reports import charts, html_report
from app.services.reports import uncertainty as report
from app.services.reports.figures import figures
from app.services.reports.per_class import class_rows, rare_class_sentence
from app.services.reports.regression_calibration import headline
from app.web import session
from app.web.text import plain
from storage.db import session_scope

user = session.current_user(st.session_state)
db = session.engine()
settings = session.settings()

st.title("Uncertainty report")
survey = session.pick_survey(db, "report_survey")
with session_scope(db) as s:
    version = active_version(s, survey)
    version_id = version.id if version is not None else None
    newest_label = labeling.newest_label_id(s)
if version_id is None:
    st.info(f"{plain(survey)} has no active model version.")
    st.stop()


@st.cache_resource(show_spinner=False, max_entries=4)
def predicted(db_url: str, survey: str, version_id: int) -> report.ReportData:
    """The model's half of the report of (survey, version): built once per version."""
    return report.predicted(settings, survey, version_id=version_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def built(
    db_url: str, survey: str, version_id: int, newest_label: int | None
) -> tuple[report.ReportData, dict[str, bytes], str]:
    """The whole report, its labels' half read again when a label or version is added."""
    data = report.with_labels(settings, predicted(db_url, survey, version_id))
    images = figures(data)
    return data, images, html_report.render_html(data, images)


with st.spinner("Predicting the validation split and mapping the embeddings…"):
    data, images, page = built(settings.db_url, survey, version_id, newest_label)

st.caption(
    f"{plain(data.survey)} · {plain(data.version)} · validation split · "
    f"built {data.created:%Y-%m-%d %H:%M} UTC"
)
st.download_button(
    "Download the report (HTML)",
    data=page.encode(),
    file_name=f"galactive_report_{data.survey}_{data.version}.html",
    mime="text/html",
    key="download_report",
    on_click="ignore",
    type="primary",
)
columns = st.columns(4)
if len(data.probs):
    columns[0].metric(f"ECE ({data.classification_task})", f"{data.reliability.ece:.3f}")
shown = headline(data.regressions)
if shown is not None:
    for column, level in zip(columns[1:3], (0.68, 0.95), strict=True):
        column.metric(f"{level:.0%} coverage ({shown.task})", f"{shown.coverage_at(level):.2f}")
if data.agreement is not None:
    a = data.agreement
    columns[3].metric(f"Labeler agreement ({a.method})", f"{a.kappa:.2f}")
    st.caption(
        f"Agreement on {a.n_galaxies} galaxies answered by {a.n_labelers} labelers; "
        f"raw agreement {a.observed:.0%}."
    )
else:
    columns[3].metric("Labeler agreement", "—")
    st.caption("Labeler agreement needs galaxies answered by two labelers (raise the overlap).")

if len(data.probs):
    st.markdown(f"**Per class ({plain(data.classification_task)})**")
    rows = class_rows(data.confusion, data.classes)
    sentence = rare_class_sentence(rows)
    if sentence:
        st.caption(sentence)
    table = html_report.per_class_table(rows)
    st.dataframe(
        [dict(zip(html_report.PER_CLASS_HEADER, r, strict=True)) for r in table],
        hide_index=True,
        width="stretch",
    )

# interactive where hovering for exact numbers or zooming helps; PNGs (as in the HTML) elsewhere
interactive = {}
if len(data.probs):
    interactive["Reliability diagram"] = charts.reliability_chart(data.reliability)
if data.regressions:
    interactive["Coverage at every nominal level"] = charts.coverage_chart(data.regressions)
small = [t for t in images if t not in ("Learning curves", "Embedding map")]
# two figures a row: four at page width drew their labels too small to read
for row in (small[i : i + 2] for i in range(0, len(small), 2)):
    for column, title in zip(st.columns(2, gap="large"), row, strict=False):
        with column:
            st.markdown(f"**{title}**")
            if title in interactive:
                st.vega_lite_chart(spec=interactive[title], width="stretch")
                st.caption(html_report.CAPTIONS.get(title, ""))
            else:
                st.image(images[title], caption=html_report.CAPTIONS.get(title))
if data.points:
    st.markdown("**Learning curves**")
    st.vega_lite_chart(spec=charts.learning_chart(data.points))
    st.caption(charts.LEARNING_CAPTION)  # the PNG's caption speaks of its red squares
if len(data.embedding):
    st.markdown("**Embedding map**")
    colour = st.segmented_control(
        "Colour by", ("BALD", "predicted class"), default="BALD", key="map_colour"
    )
    st.vega_lite_chart(spec=charts.embedding_chart(data, colour=colour or "BALD"), width="stretch")
    hint = "Hover a galaxy for its id; drag and scroll to zoom."
    st.caption(f"{html_report.CAPTIONS['Embedding map']} {hint}")
